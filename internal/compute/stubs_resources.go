package compute

// Placeholders for the resource APIs (flavors, keypairs, server groups, admin resources,
// quotas); replaced by their own files.

func (s *Service) versionRoutes() []route     { return nil }
func (s *Service) flavorRoutes() []route      { return nil }
func (s *Service) keypairRoutes() []route     { return nil }
func (s *Service) serverGroupRoutes() []route { return nil }
func (s *Service) quotaRoutes() []route       { return nil }
func resourcePolicies() map[string]string     { return nil }
