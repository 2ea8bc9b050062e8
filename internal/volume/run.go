package volume

import (
	"context"
	"sync"
	"time"

	"github.com/gostack/gostack/internal/store"
)

// Queues: the cinder-volume runner of host@backend and the cinder-backup runner of the
// host each drain their own queue of volume_tasks.

// volumeQueue is the task queue of this host's cinder-volume service.
func (s *Service) volumeQueue() string { return "volume:" + s.volumeHost() }

// backupQueue is the task queue of this host's cinder-backup service.
func (s *Service) backupQueue() string { return "backup:" + s.cfg.Host }

// Run runs this process's cinder-scheduler, cinder-volume and cinder-backup services
// until ctx ends: it settles what a previous run left half done (recovery.go),
// registers the services and heartbeats, then runs the tasks of the volume and backup queues as they
// are queued. Running tasks stop at their next step at shutdown and run again at the
// next start.
func (s *Service) Run(ctx context.Context) {
	s.mu.Lock()
	if s.running {
		s.mu.Unlock()
		return
	}
	s.running = true
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		s.running = false
		s.mu.Unlock()
	}()
	driver, backups := s.backend()
	// Recovery comes first: tasks are requeued before the services report in, and the
	// runners start only once it is done.
	s.recover(ctx)
	if err := s.registerServices(ctx, driver != nil, backups != nil); err != nil && ctx.Err() == nil {
		s.log.Error("register volume services", "err", err)
	}
	if s.onReady != nil {
		s.onReady()
	}
	var wg sync.WaitGroup
	if driver != nil {
		rn := &runner{s: s, queue: s.volumeQueue(), funcs: s.volumeTaskFuncs, workers: s.cfg.Workers, active: map[int64]bool{}}
		wg.Add(1)
		go func() {
			defer wg.Done()
			rn.run(ctx, &wg)
		}()
	}
	if backups != nil {
		rn := &runner{s: s, queue: s.backupQueue(), funcs: s.backupTaskFuncs, workers: s.cfg.Workers, active: map[int64]bool{}}
		wg.Add(1)
		go func() {
			defer wg.Done()
			rn.run(ctx, &wg)
		}()
	}
	tick := time.NewTicker(s.cfg.ReportInterval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			wg.Wait()
			return
		case <-tick.C:
			if err := s.heartbeat(ctx, driver != nil, backups != nil); err != nil && ctx.Err() == nil {
				s.log.Warn("volume service heartbeat", "err", err)
			}
			if err := s.prune(ctx); err != nil && ctx.Err() == nil {
				s.log.Warn("prune finished volume tasks and expired messages", "err", err)
			}
		}
	}
}

// taskRetention is how long finished tasks are kept (for operators reading the table).
const taskRetention = 7 * 24 * time.Hour

// prune deletes finished tasks past their retention and expired user messages.
func (s *Service) prune(ctx context.Context) error {
	cutoff := store.FormatTime(now().Add(-taskRetention))
	if _, err := s.db.ExecContext(ctx, `DELETE FROM volume_tasks WHERE state IN (?, ?) AND updated_at < ?`,
		taskDone, taskFailed, cutoff); err != nil {
		return err
	}
	_, err := s.db.ExecContext(ctx, `DELETE FROM volume_messages WHERE expires_at < ?`, store.FormatTime(now()))
	return err
}
