package qemu

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/gostack/gostack/internal/platform"
)

// accelProbe finds the accelerator guests run with, once per start of gostack (never
// cached on disk: a reboot or a module load can change the answer).
type accelProbe struct {
	done  chan struct{}
	accel string
	err   error
}

// wait returns the probe's answer, waiting for it within ctx.
func (p *accelProbe) wait(ctx context.Context) (string, error) {
	select {
	case <-p.done:
		return p.accel, p.err
	case <-ctx.Done():
		return "", fmt.Errorf("qemu: waiting for the accelerator probe: %w", ctx.Err())
	}
}

// errNoEmulator is a missing or unusable QEMU; its text is shown to users (no paths).
var errNoEmulator = errors.New("QEMU is not usable on this host")

// startProbe runs the probe in the background.
func startProbe(d *Driver) *accelProbe {
	p := &accelProbe{done: make(chan struct{})}
	go func() {
		defer close(p.done)
		p.accel, p.err = d.probe(context.Background())
		if p.err != nil {
			d.log.Error("no usable QEMU accelerator; servers on this host will fail to build", "err", p.err)
			return
		}
		d.log.Info("QEMU accelerator chosen", "accel", p.accel)
	}()
	return p
}

// probeSector is a boot sector that does what trips a broken KVM (nested without the
// features guests need): it enters 32-bit protected mode, takes an interrupt through an
// IDT and returns with iret, then writes 1 to the isa-debug-exit port 0xf4, which makes
// QEMU exit with status 3. Assembled from:
//
//	cli; xor ax,ax; mov ds,ax; mov ss,ax; mov sp,0x7c00
//	lgdt [gdtr]; mov eax,cr0; or eax,1; mov cr0,eax; jmp 0x08:pm
//	pm: mov ax,0x10; mov ds,ax; mov ss,ax; mov es,ax; mov esp,0x7000
//	lidt [idtr]; int 0x20; mov al,1; out 0xf4,al; 1: hlt; jmp 1b
//	handler: iret
//	gdt: null, flat 32-bit code (0x08), flat data (0x10); gdtr at 0x58
//	idt at 0x5e: 32 empty gates, then gate 0x20 → handler; idtr at 0x166
var probeCode = []byte{
	0xfa, 0x31, 0xc0, 0x8e, 0xd8, 0x8e, 0xd0, 0xbc, 0x00, 0x7c, 0x0f, 0x01, 0x16, 0x58, 0x7c, 0x0f,
	0x20, 0xc0, 0x66, 0x83, 0xc8, 0x01, 0x0f, 0x22, 0xc0, 0xea, 0x1e, 0x7c, 0x08, 0x00, 0x66, 0xb8,
	0x10, 0x00, 0x8e, 0xd8, 0x8e, 0xd0, 0x8e, 0xc0, 0xbc, 0x00, 0x70, 0x00, 0x00, 0x0f, 0x01, 0x1d,
	0x66, 0x7d, 0x00, 0x00, 0xcd, 0x20, 0xb0, 0x01, 0xe6, 0xf4, 0xf4, 0xeb, 0xfd, 0xcf, 0x66, 0x90,
	0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0xff, 0xff, 0x00, 0x00, 0x00, 0x9a, 0xcf, 0x00,
	0xff, 0xff, 0x00, 0x00, 0x00, 0x92, 0xcf, 0x00, 0x17, 0x00, 0x40, 0x7c, 0x00, 0x00,
}

// probeSectorBytes builds the 512-byte sector.
func probeSectorBytes() []byte {
	b := make([]byte, 512)
	copy(b, probeCode)
	copy(b[0x15e:], []byte{0x3d, 0x7c, 0x08, 0x00, 0x00, 0x8e, 0x00, 0x00}) // gate 0x20
	copy(b[0x166:], []byte{0x07, 0x01, 0x5e, 0x7c, 0x00, 0x00})             // idtr
	b[510], b[511] = 0x55, 0xaa
	return b
}

// probeArgs is the command line of a probe guest.
func probeArgs(accel, sector string) []string {
	return []string{"-accel", accel, "-machine", "pc", "-nodefaults", "-no-user-config", "-display", "none", "-m", "16",
		"-device", "isa-debug-exit,iobase=0xf4,iosize=0x04", "-drive", "file=" + escapeOpt(sector) + ",format=raw,if=ide"}
}

// probeMemo is the last probe's answer, valid only for the same boot of the host and
// the same emulator binary: a reboot, a kernel module (re)load or a QEMU upgrade each
// change the key, so the answer is never stale, and restarts of gostack skip the
// seconds a broken KVM takes to time out.
type probeMemo struct {
	Key   string `json:"key"`
	Accel string `json:"accel"`
}

// probeKey identifies the conditions a probe answer holds for ("" when unknown).
func (d *Driver) probeKey(binPath string) string {
	boot, err := os.ReadFile("/proc/sys/kernel/random/boot_id")
	if err != nil {
		return ""
	}
	st, err := os.Stat(binPath)
	if err != nil {
		return ""
	}
	kvm := "no-kvm"
	if ks, err := os.Stat("/dev/kvm"); err == nil {
		kvm = ks.ModTime().UTC().Format(time.RFC3339Nano)
	}
	return fmt.Sprintf("%s|%s|%d|%s|%s|%s", strings.TrimSpace(string(boot)), binPath, st.Size(),
		st.ModTime().UTC().Format(time.RFC3339Nano), kvm, d.cfg.Accel)
}

// probe picks the accelerator: the configured one, else KVM when the probe guest runs
// under it, else TCG when it runs under TCG; neither is an error.
func (d *Driver) probe(ctx context.Context) (string, error) {
	binPath, err := d.run.LookPath(d.cfg.Binary)
	if err != nil {
		return "", fmt.Errorf("%w: %s is not installed", errNoEmulator, filepath.Base(d.cfg.Binary))
	}
	memoPath := filepath.Join(d.dir, ".accel.json")
	key := d.probeKey(binPath)
	if b, err := os.ReadFile(memoPath); err == nil && key != "" {
		var m probeMemo
		if json.Unmarshal(b, &m) == nil && m.Key == key && m.Accel != "" {
			return m.Accel, nil
		}
	}
	accel, err := d.runProbes(ctx)
	if err == nil && key != "" {
		b, _ := json.Marshal(probeMemo{Key: key, Accel: accel})
		_ = writeFileAtomic(memoPath, b, 0o640)
	}
	return accel, err
}

// runProbes boots the probe guest under each candidate accelerator.
func (d *Driver) runProbes(ctx context.Context) (string, error) {
	dir, err := os.MkdirTemp(d.dir, ".probe-")
	if err != nil {
		return "", fmt.Errorf("qemu: %w", err)
	}
	defer os.RemoveAll(dir)
	sector := filepath.Join(dir, "probe.img")
	if err := os.WriteFile(sector, probeSectorBytes(), 0o600); err != nil {
		return "", fmt.Errorf("qemu: %w", err)
	}
	candidates := []string{"kvm", "tcg"}
	if d.cfg.Accel != "" {
		candidates = []string{d.cfg.Accel}
	}
	var errs []error
	for _, a := range candidates {
		if a == "kvm" {
			if f, err := os.OpenFile("/dev/kvm", os.O_RDWR, 0); err != nil {
				errs = append(errs, fmt.Errorf("kvm: %w", err))
				continue
			} else {
				f.Close()
			}
		}
		start := time.Now()
		pctx, cancel := context.WithTimeout(ctx, d.cfg.ProbeTimeout)
		_, err := d.run.Run(pctx, platform.Command{Name: d.cfg.Binary, Args: probeArgs(a, sector)})
		cancel()
		var ee *platform.ExitError
		if errors.As(err, &ee) && ee.ExitCode == 3 {
			d.log.Debug("accelerator probe passed", "accel", a, "ms", time.Since(start).Milliseconds())
			return a, nil
		}
		if err == nil {
			err = errors.New("the probe guest exited without reaching its end")
		} else if pctx.Err() != nil {
			err = fmt.Errorf("the probe guest did not finish within %s", d.cfg.ProbeTimeout)
		}
		d.log.Info("accelerator not usable", "accel", a, "err", err)
		errs = append(errs, fmt.Errorf("%s: %w", a, err))
	}
	return "", fmt.Errorf("%w: no accelerator works (%w)", errNoEmulator, errors.Join(errs...))
}
