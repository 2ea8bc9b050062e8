package volume

import "context"

// recover settles what a previous run left half done: tasks found running are made
// pending again (their steps are idempotent), so that every transitional status reaches
// a final one.
func (s *Service) recover(ctx context.Context) {
	driver, backups := s.backend()
	if driver != nil {
		if n, err := s.requeueInterrupted(ctx, s.volumeQueue()); err != nil {
			s.log.Error("requeue interrupted volume tasks", "err", err)
		} else if n > 0 {
			s.log.Info("re-running interrupted volume tasks", "count", n)
		}
	}
	if backups != nil {
		if n, err := s.requeueInterrupted(ctx, s.backupQueue()); err != nil {
			s.log.Error("requeue interrupted backup tasks", "err", err)
		} else if n > 0 {
			s.log.Info("re-running interrupted backup tasks", "count", n)
		}
	}
}
