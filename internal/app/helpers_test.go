package app

import "github.com/gostack/gostack/internal/identity"

// identityTestConfig keeps bcrypt cheap in tests.
func identityTestConfig() identity.Config { return identity.Config{BcryptCost: 4} }
