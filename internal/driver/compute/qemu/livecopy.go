package qemu

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	computedriver "github.com/gostack/gostack/internal/driver/compute"
	"github.com/gostack/gostack/internal/platform"
)

// This file copies volumes of running guests (computedriver.VolumeCopier). Reading the
// volume's file while the guest writes to it gives a torn copy; QEMU's backup block
// job instead copies the device as it was when the job started: a copy-before-write
// filter saves every block the guest overwrites to the target before the write goes
// through, while the job copies the rest in the background, and the guest keeps
// running. The target is a file added with blockdev-add and removed with blockdev-del
// afterwards; the job is not dismissed automatically, so that its outcome (and error)
// is read from query-jobs rather than from events the driver does not follow.

var _ computedriver.VolumeCopier = (*Driver)(nil)

// livecopyPrefix names the jobs and target nodes of volume copies: anything by that
// name found in a guest before a copy was left by an earlier gostack process (the
// per-instance lock lets one copy run at a time) and is cleared.
const livecopyPrefix = "livecopy-"

// livecopyPoll is how often a copy's progress is asked for; livecopyCleanup bounds the
// cleanup of a failed or cancelled copy.
const (
	livecopyPoll    = 100 * time.Millisecond
	livecopyCleanup = 30 * time.Second
)

// CopyVolume implements computedriver.VolumeCopier. The guest's lock is held for the
// whole copy, so that a detach, a stop or a migration of the same guest waits for it.
func (d *Driver) CopyVolume(ctx context.Context, inst *computedriver.Instance, device string, connection map[string]any, dest, format string) error {
	if format != "qcow2" && format != "raw" {
		return fmt.Errorf("qemu: copy volume: unsupported format %q", format)
	}
	if dest == "" {
		return errors.New("qemu: copy volume: no destination")
	}
	defer d.lock(inst.UUID)()
	g, id, err := d.guestVolume(inst, device, "copy volume")
	if err != nil {
		return err
	}
	if d.pid(g.UUID) == 0 {
		return computedriver.ErrNotRunning
	}
	start := time.Now()
	if err := d.copyDisk(ctx, g, id, dest, format); err != nil {
		return fmt.Errorf("qemu: copy volume: %w", err)
	}
	d.log.Info("copied a volume of a running guest", "instance", inst.UUID, "device", device, "took", time.Since(start))
	return nil
}

// guestVolume loads the guest of inst and the disk id of its volume at device
// ("/dev/vdb" → "virtio-vdb"); what names the operation in the error when the guest has
// no volume there. The caller holds the guest's lock.
func (d *Driver) guestVolume(inst *computedriver.Instance, device, what string) (*guest, string, error) {
	g, err := d.loadExisting(inst.UUID)
	if err != nil {
		return nil, "", err
	}
	id := "virtio-" + strings.TrimPrefix(device, "/dev/")
	for _, x := range g.Disks {
		if x.ID == id && x.Volume {
			return g, id, nil
		}
	}
	return nil, "", fmt.Errorf("qemu: %s: the guest has no volume at %s", what, device)
}

// copyDisk copies the running guest's disk id into a new image file dest in format with
// a backup block job (copyBlock), point-in-time as of the job's start.
func (d *Driver) copyDisk(ctx context.Context, g *guest, id, dest, format string) error {
	exec := func(ctx context.Context, cmd string, args, result any) error {
		return d.execute(ctx, g, cmd, args, result)
	}
	create := func(ctx context.Context, size int64) error {
		_, err := d.run.Run(ctx, platform.Command{Name: d.cfg.Img,
			Args: []string{"create", "-q", "-f", format, dest, strconv.FormatInt(size, 10)}})
		return err
	}
	return copyBlock(ctx, exec, create, id, dest, format, livecopyPoll, d.copySpeed)
}

// findBlock returns the block device behind the disk id ("virtio-vdb") from query-block:
// the name blockdev-backup takes (the drive's id for a disk from the command line, the
// node name for a hot-plugged one) and its virtual size.
func findBlock(ctx context.Context, exec qmpExec, id string) (name string, size int64, err error) {
	var blocks []blockInfo
	if err := exec(ctx, "query-block", nil, &blocks); err != nil {
		return "", 0, err
	}
	for _, b := range blocks {
		if b.Inserted == nil || b.Inserted.NodeName == "" {
			continue
		}
		if b.Device != "drive-"+id && b.Inserted.NodeName != "drive-"+id && b.QDev != id &&
			!strings.HasPrefix(b.QDev, "/machine/peripheral/"+id+"/") {
			continue
		}
		name = b.Device
		if name == "" {
			name = b.Inserted.NodeName
		}
		return name, b.Inserted.Image.VirtualSize, nil
	}
	return "", 0, fmt.Errorf("the guest has no block device %s", id)
}

// jobInfo is one entry of QMP's query-jobs.
type jobInfo struct {
	ID     string `json:"id"`
	Type   string `json:"type"`
	Status string `json:"status"`
	Error  string `json:"error"`
}

// queryJob returns the job named id; ok is false when QEMU has none.
func queryJob(ctx context.Context, exec qmpExec, id string) (j jobInfo, ok bool, err error) {
	var jobs []jobInfo
	if err := exec(ctx, "query-jobs", nil, &jobs); err != nil {
		return jobInfo{}, false, err
	}
	for _, j := range jobs {
		if j.ID == id {
			return j, true, nil
		}
	}
	return jobInfo{}, false, nil
}

// copyBlock copies the block device of disk id into a new image file dest (made by
// create at the device's size) with a full backup job, and waits for it. On failure,
// or when ctx ends, the job is cancelled and the target node and dest removed. speed
// limits the job (bytes per second; 0: unlimited).
func copyBlock(ctx context.Context, exec qmpExec, create func(context.Context, int64) error, id, dest, format string,
	poll time.Duration, speed int64) error {
	if err := clearStale(ctx, exec, poll); err != nil {
		return fmt.Errorf("clear an earlier copy: %w", err)
	}
	src, size, err := findBlock(ctx, exec, id)
	if err != nil {
		return err
	}
	if err := create(ctx, size); err != nil {
		_ = os.Remove(dest)
		return fmt.Errorf("create the copy: %w", err)
	}
	name := livecopyPrefix + strconv.FormatInt(time.Now().UnixNano(), 36)
	job, target := name, name+"-t"
	// Blocks that read as zeroes are unmapped in the target rather than written, so the
	// copy stays as sparse as the volume.
	err = exec(ctx, "blockdev-add", map[string]any{"driver": format, "node-name": target,
		"discard": "unmap", "detect-zeroes": "unmap",
		"file": map[string]any{"driver": "file", "filename": dest}}, nil)
	if err != nil {
		_ = os.Remove(dest)
		return fmt.Errorf("add the copy's node: %w", err)
	}
	bg, cancel := context.WithTimeout(context.WithoutCancel(ctx), livecopyCleanup)
	defer cancel()
	cleanup := func(keep bool) {
		if _, ok, _ := queryJob(bg, exec, job); ok {
			_ = exec(bg, "job-dismiss", map[string]any{"id": job}, nil)
		}
		_ = exec(bg, "blockdev-del", map[string]any{"node-name": target}, nil)
		if !keep {
			_ = os.Remove(dest)
		}
	}
	backup := map[string]any{"job-id": job, "device": src, "target": target, "sync": "full", "auto-dismiss": false}
	if speed > 0 {
		backup["speed"] = speed
	}
	err = exec(ctx, "blockdev-backup", backup, nil)
	if err != nil {
		cleanup(false)
		return fmt.Errorf("start the copy: %w", err)
	}
	if err := waitJob(ctx, exec, job, poll); err != nil {
		if ctx.Err() != nil {
			// Cancelled: stop the job before its target goes.
			_ = exec(bg, "job-cancel", map[string]any{"id": job}, nil)
			_ = waitJob(bg, exec, job, poll)
		}
		cleanup(false)
		return err
	}
	cleanup(true)
	return nil
}

// waitJob waits until the job concluded and returns its error; a job that vanished is
// an error too (someone else dismissed it, or the guest went).
func waitJob(ctx context.Context, exec qmpExec, job string, poll time.Duration) error {
	for {
		j, ok, err := queryJob(ctx, exec, job)
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return fmt.Errorf("follow the copy: %w", err)
		}
		if !ok {
			return errors.New("the copy job disappeared")
		}
		if j.Status == "concluded" || j.Status == "null" {
			if j.Error != "" {
				return fmt.Errorf("the copy job failed: %s", j.Error)
			}
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(poll):
		}
	}
}

// clearStale cancels and dismisses the copy jobs and removes the target nodes an
// earlier gostack process left in the guest (it stopped in the middle of a copy).
func clearStale(ctx context.Context, exec qmpExec, poll time.Duration) error {
	var jobs []jobInfo
	if err := exec(ctx, "query-jobs", nil, &jobs); err != nil {
		return err
	}
	for _, j := range jobs {
		if !strings.HasPrefix(j.ID, livecopyPrefix) {
			continue
		}
		if j.Status != "concluded" && j.Status != "null" {
			_ = exec(ctx, "job-cancel", map[string]any{"id": j.ID}, nil)
			if err := waitJob(ctx, exec, j.ID, poll); err != nil && ctx.Err() != nil {
				return ctx.Err()
			}
		}
		if err := exec(ctx, "job-dismiss", map[string]any{"id": j.ID}, nil); err != nil && !isNotFound(err) {
			return err
		}
	}
	var nodes []struct {
		NodeName string `json:"node-name"`
	}
	if err := exec(ctx, "query-named-block-nodes", map[string]any{"flat": true}, &nodes); err != nil {
		return err
	}
	for _, n := range nodes {
		if strings.HasPrefix(n.NodeName, livecopyPrefix) && strings.HasSuffix(n.NodeName, "-t") {
			if err := exec(ctx, "blockdev-del", map[string]any{"node-name": n.NodeName}, nil); err != nil && !isNotFound(err) {
				return err
			}
		}
	}
	return nil
}
