package compute

// resourcePolicies gathers the default rules of the resource APIs (versions, extensions,
// flavors, keypairs, server groups, quotas and limits), each from its own file, as Nova
// keeps them in nova/policies/<resource>.py.
func resourcePolicies() map[string]string {
	out := map[string]string{}
	for _, m := range []map[string]string{
		extensionPolicies,
		flavorPolicies,
		keypairPolicies,
		quotaPolicies,
		serverGroupPolicies,
	} {
		for k, v := range m {
			out[k] = v
		}
	}
	return out
}
