package qemu

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"regexp"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"syscall"

	computedriver "github.com/gostack/gostack/internal/driver/compute"
	"github.com/gostack/gostack/internal/platform"
)

// versionRe finds the version in `qemu-system-x86_64 --version`.
var versionRe = regexp.MustCompile(`version (\d+)\.(\d+)(?:\.(\d+))?`)

// parseVersion turns QEMU's version banner into Nova's integer form.
func parseVersion(out string) (int64, error) {
	m := versionRe.FindStringSubmatch(out)
	if m == nil {
		return 0, fmt.Errorf("qemu: no version in %q", firstLine(out))
	}
	maj, _ := strconv.ParseInt(m[1], 10, 64)
	mnr, _ := strconv.ParseInt(m[2], 10, 64)
	var pat int64
	if m[3] != "" {
		pat, _ = strconv.ParseInt(m[3], 10, 64)
	}
	return maj*1000000 + mnr*1000 + pat, nil
}

// firstLine is the first line of s.
func firstLine(s string) string {
	s, _, _ = strings.Cut(s, "\n")
	return s
}

// HostInfo implements computedriver.Driver from /proc, statfs of the data directory
// and the emulator's version; it fails when no accelerator is usable.
func (d *Driver) HostInfo(ctx context.Context) (computedriver.HostInfo, error) {
	accel, err := d.accel.wait(ctx)
	if err != nil {
		return computedriver.HostInfo{}, err
	}
	out, err := d.run.Run(ctx, platform.Command{Name: d.cfg.Binary, Args: []string{"--version"}})
	if err != nil {
		return computedriver.HostInfo{}, fmt.Errorf("%w: %v", errNoEmulator, err)
	}
	ver, err := parseVersion(string(out))
	if err != nil {
		return computedriver.HostInfo{}, err
	}
	hi := computedriver.HostInfo{HypervisorType: "QEMU", HypervisorVersion: ver, VCPUs: runtime.NumCPU(),
		MemoryMB: memTotalMB(), LocalGB: diskGB(d.dir), HostIP: d.cfg.HostIP}
	cpu := readCPUInfo()
	cpu.Accelerator = accel
	b, _ := json.Marshal(cpu)
	hi.CPUInfo = string(b)
	hi.Traits = traits(cpu.Features)
	return hi, nil
}

// cpuInfo is the compute node's cpu_info, as Nova's libvirt driver reports it, plus the
// accelerator gostack chose.
type cpuInfo struct {
	Arch     string   `json:"arch"`
	Model    string   `json:"model"`
	Vendor   string   `json:"vendor"`
	Topology topology `json:"topology"`
	Features []string `json:"features"`
	// Accelerator is "kvm" or "tcg" (not in Nova's cpu_info; shown so that
	// `hypervisor show` says what guests run with).
	Accelerator string `json:"accelerator"`
}

type topology struct {
	Cells   int `json:"cells"`
	Sockets int `json:"sockets"`
	Cores   int `json:"cores"`
	Threads int `json:"threads"`
}

// readCPUInfo reads /proc/cpuinfo.
func readCPUInfo() cpuInfo {
	ci := cpuInfo{Arch: runtime.GOARCH, Topology: topology{Cells: 1, Sockets: 1, Cores: runtime.NumCPU(), Threads: 1}}
	if ci.Arch == "amd64" {
		ci.Arch = "x86_64"
	}
	f, err := os.Open("/proc/cpuinfo")
	if err != nil {
		return ci
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		k, v = strings.TrimSpace(k), strings.TrimSpace(v)
		switch k {
		case "model name":
			if ci.Model == "" {
				ci.Model = v
			}
		case "vendor_id":
			if ci.Vendor == "" {
				ci.Vendor = strings.TrimPrefix(strings.TrimPrefix(v, "Genuine"), "Authentic")
			}
		case "flags":
			if ci.Features == nil {
				ci.Features = strings.Fields(v)
				sort.Strings(ci.Features)
			}
		}
	}
	return ci
}

// cpuTraits maps /proc/cpuinfo flags to os-traits HW_CPU_X86_* names.
var cpuTraits = map[string]string{
	"sse": "HW_CPU_X86_SSE", "sse2": "HW_CPU_X86_SSE2", "ssse3": "HW_CPU_X86_SSSE3", "sse4_1": "HW_CPU_X86_SSE41",
	"sse4_2": "HW_CPU_X86_SSE42", "avx": "HW_CPU_X86_AVX", "avx2": "HW_CPU_X86_AVX2", "aes": "HW_CPU_X86_AESNI",
	"fma": "HW_CPU_X86_FMA3", "bmi1": "HW_CPU_X86_BMI", "bmi2": "HW_CPU_X86_BMI2", "mmx": "HW_CPU_X86_MMX",
	"f16c": "HW_CPU_X86_F16C", "sha_ni": "HW_CPU_X86_SHA", "vmx": "HW_CPU_X86_VMX", "svm": "HW_CPU_X86_SVM",
}

// traits are the host's Placement traits: what the driver supports and the CPU flags.
func traits(flags []string) []string {
	out := []string{"COMPUTE_NET_ATTACH_INTERFACE", "COMPUTE_VOLUME_ATTACH", "COMPUTE_IMAGE_TYPE_RAW",
		"COMPUTE_IMAGE_TYPE_QCOW2", "COMPUTE_IMAGE_TYPE_ISO", "COMPUTE_IMAGE_TYPE_VMDK", "COMPUTE_IMAGE_TYPE_VHD",
		"COMPUTE_IMAGE_TYPE_VHDX", "COMPUTE_IMAGE_TYPE_VDI", "COMPUTE_NET_VIF_MODEL_VIRTIO", "COMPUTE_STORAGE_BUS_VIRTIO",
		"COMPUTE_STORAGE_BUS_IDE", "COMPUTE_GRAPHICS_MODEL_VGA", "COMPUTE_RESCUE_BFV", "COMPUTE_DEVICE_TAGGING"}
	for _, f := range flags {
		if t, ok := cpuTraits[f]; ok {
			out = append(out, t)
		}
	}
	sort.Strings(out)
	return out
}

// memTotalMB is the host's memory from /proc/meminfo.
func memTotalMB() int64 {
	b, err := os.ReadFile("/proc/meminfo")
	if err != nil {
		return 0
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "MemTotal:"); ok {
			f := strings.Fields(v)
			if len(f) > 0 {
				kb, _ := strconv.ParseInt(f[0], 10, 64)
				return kb / 1024
			}
		}
	}
	return 0
}

// diskGB is the size of the filesystem holding dir, in GiB.
func diskGB(dir string) int64 {
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		return 0
	}
	return int64(st.Blocks) * int64(st.Bsize) >> 30
}
