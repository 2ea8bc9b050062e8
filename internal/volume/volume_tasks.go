package volume

// volumeTaskFuncs returns how the cinder-volume runner carries out a kind of task.
func (s *Service) volumeTaskFuncs(k taskKind) (taskFuncs, bool) {
	return taskFuncs{}, false
}

// backupTaskFuncs returns how the cinder-backup runner carries out a kind of task.
func (s *Service) backupTaskFuncs(k taskKind) (taskFuncs, bool) {
	return taskFuncs{}, false
}
