package qemu

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/gostack/gostack/internal/platform"
)

// argv is the QEMU command line of a guest. It is derived from instance.json alone, so
// that a guest restarts the same way after gostack does.
func (d *Driver) argv(g *guest) []string {
	dir := d.instanceDir(g.UUID)
	a := []string{
		"-name", "guest=" + escapeOpt(g.Name) + ",debug-threads=on",
		"-uuid", g.UUID,
		// The system's SMBIOS record as Nova's libvirt driver writes it (sysinfo_serial =
		// unique): cloud-init's OpenStack datasource and ds-identify only consider the
		// metadata service where the product is "OpenStack Nova".
		"-smbios", "type=1,manufacturer=OpenStack Foundation,product=OpenStack Nova,serial=" + g.UUID +
			",uuid=" + g.UUID + ",family=Virtual Machine",
		"-machine", "pc", "-accel", g.Accel,
	}
	if g.Accel == "kvm" {
		a = append(a, "-cpu", "host")
	}
	a = append(a,
		"-m", strconv.FormatInt(g.MemoryMB, 10),
		"-smp", fmt.Sprintf("%d,sockets=%d,cores=1,threads=1", g.VCPUs, g.VCPUs),
		"-no-user-config", "-nodefaults",
		"-rtc", "base=utc",
		"-boot", "strict=on",
		"-display", "none",
		"-device", "VGA,id=video0",
		"-vnc", "unix:"+filepath.Join(g.SocketDir, "vnc.sock"),
		"-chardev", "file,id=charserial0,path="+escapeOpt(filepath.Join(dir, "console.log"))+",append=on",
		"-device", "isa-serial,chardev=charserial0,id=serial0",
		"-qmp", "unix:"+filepath.Join(g.SocketDir, "qmp.sock")+",server=on,wait=off",
		"-device", "virtio-balloon-pci,id=balloon0",
		"-device", "virtio-rng-pci,id=rng0",
		"-device", "virtio-scsi-pci,id=scsi0",
	)
	ide := 0
	for _, dk := range g.Disks {
		drive := "file=" + escapeOpt(dk.Path) + ",format=" + dk.Format + ",if=none,id=drive-" + dk.ID
		if dk.ReadOnly {
			drive += ",readonly=on"
		}
		var dev string
		switch dk.Bus {
		case "ide-cd":
			drive += ",media=cdrom"
			dev = fmt.Sprintf("ide-cd,bus=ide.%d,unit=%d,drive=drive-%s,id=%s", ide/2, ide%2, dk.ID, dk.ID)
			ide++
		case "scsi":
			dev = "scsi-hd,bus=scsi0.0,drive=drive-" + dk.ID + ",id=" + dk.ID
		default:
			dev = "virtio-blk-pci,drive=drive-" + dk.ID + ",id=" + dk.ID
		}
		if dk.BootIndex > 0 {
			dev += ",bootindex=" + strconv.Itoa(dk.BootIndex)
		}
		a = append(a, "-drive", drive, "-device", dev)
	}
	for i, n := range g.NICs {
		a = append(a, "-netdev", fmt.Sprintf("tap,id=hostnet%d,ifname=%s,script=no,downscript=no", i, n.Tap),
			"-device", fmt.Sprintf("virtio-net-pci,netdev=hostnet%d,id=net%d,mac=%s", i, i, n.MAC))
	}
	if g.Suspended {
		a = append(a, "-incoming", "exec:cat "+shellQuote(filepath.Join(dir, "state.save")))
	}
	a = append(a, "-pidfile", filepath.Join(dir, "qemu.pid"), "-daemonize")
	return a
}

// shellQuote quotes s for /bin/sh (QEMU runs exec: migration URIs through it).
func shellQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }

// startProcess starts a guest's QEMU process (it daemonizes once set up, so an error in
// its configuration is returned here) and waits until its monitor answers.
func (d *Driver) startProcess(ctx context.Context, g *guest) error {
	if d.pid(g.UUID) != 0 {
		return nil
	}
	if err := os.MkdirAll(g.SocketDir, 0o750); err != nil {
		return fmt.Errorf("qemu: %w", err)
	}
	for _, s := range []string{"qmp.sock", "vnc.sock"} {
		_ = os.Remove(filepath.Join(g.SocketDir, s))
	}
	if err := d.plugTaps(ctx, g.NICs); err != nil {
		return err
	}
	d.dropClient(g.UUID)
	g.StartedAt = time.Now().UTC()
	if err := d.save(g); err != nil {
		return err
	}
	sctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	started := time.Now()
	if _, err := d.run.Run(sctx, platform.Command{Name: g.Binary, Args: d.argv(g), Dir: d.instanceDir(g.UUID)}); err != nil {
		return fmt.Errorf("qemu: start guest: %w", err)
	}
	d.log.Info("guest started", "instance", g.UUID, "accel", g.Accel, "exec_ms", time.Since(started).Milliseconds())
	return nil
}

// stopProcess ends a guest's process: quit over QMP, then SIGTERM, then SIGKILL, and
// waits until it is gone.
func (d *Driver) stopProcess(ctx context.Context, g *guest) error {
	pid := d.pid(g.UUID)
	if pid == 0 {
		d.dropClient(g.UUID)
		return nil
	}
	qctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	_ = d.execute(qctx, g, "quit", nil, nil)
	cancel()
	d.dropClient(g.UUID)
	if waitGone(ctx, pid, 5*time.Second) {
		return nil
	}
	_ = syscall.Kill(pid, syscall.SIGTERM)
	if waitGone(ctx, pid, 5*time.Second) {
		return nil
	}
	_ = syscall.Kill(pid, syscall.SIGKILL)
	if waitGone(ctx, pid, 10*time.Second) {
		return nil
	}
	return fmt.Errorf("qemu: guest process %d did not exit", pid)
}

// waitGone waits up to d for a process to exit.
func waitGone(ctx context.Context, pid int, d time.Duration) bool {
	deadline := time.Now().Add(d)
	for {
		if !alive(pid) {
			return true
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return false
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// plugTaps creates the tap devices of a guest's NICs, named as Nova names them, with the
// port's MTU; the tap's own MAC is the port's with fe as first octet (as libvirt sets it,
// so that a bridge never learns the guest's address from the host side). The network
// driver attaches them to its bridge.
func (d *Driver) plugTaps(ctx context.Context, nics []nic) error {
	for _, n := range nics {
		if _, err := os.Stat("/sys/class/net/" + n.Tap); err == nil {
			continue
		}
		if err := d.plugTap(ctx, n); err != nil {
			return err
		}
	}
	return nil
}

// plugTap creates one tap device.
func (d *Driver) plugTap(ctx context.Context, n nic) error {
	if _, err := d.run.Run(ctx, platform.Command{Name: "ip", Args: []string{"tuntap", "add", "dev", n.Tap, "mode", "tap"}}); err != nil {
		return fmt.Errorf("qemu: create tap %s: %w", n.Tap, err)
	}
	args := []string{"link", "set", "dev", n.Tap}
	if mac := tapMAC(n.MAC); mac != "" {
		args = append(args, "address", mac)
	}
	if n.MTU > 0 {
		args = append(args, "mtu", strconv.Itoa(n.MTU))
	}
	args = append(args, "up")
	if _, err := d.run.Run(ctx, platform.Command{Name: "ip", Args: args}); err != nil {
		return fmt.Errorf("qemu: set up tap %s: %w", n.Tap, err)
	}
	return nil
}

// tapMAC is the host side's MAC for a guest MAC.
func tapMAC(mac string) string {
	if len(mac) != 17 {
		return ""
	}
	return "fe" + mac[2:]
}

// unplugTaps deletes tap devices that exist.
func (d *Driver) unplugTaps(ctx context.Context, nics []nic) error {
	var errs []error
	for _, n := range nics {
		if _, err := os.Stat("/sys/class/net/" + n.Tap); err != nil {
			continue
		}
		if _, err := d.run.Run(ctx, platform.Command{Name: "ip", Args: []string{"link", "del", "dev", n.Tap}}); err != nil {
			errs = append(errs, fmt.Errorf("qemu: delete tap %s: %w", n.Tap, err))
		}
	}
	return errors.Join(errs...)
}
