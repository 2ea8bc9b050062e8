package compute

// Placeholders for the resource APIs (flavors, keypairs, server groups, admin resources,
// quotas); replaced by their own files.

func (s *Service) adminRoutes() []route { return nil }
