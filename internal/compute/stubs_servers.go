package compute

// Placeholders for the server APIs; replaced by their own files.

func (s *Service) serverRoutes() []route       { return nil }
func (s *Service) serverActionRoutes() []route { return nil }
func serverPolicies() map[string]string        { return nil }
