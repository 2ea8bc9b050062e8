package placement

// Placement's base rules (placement/policies/base.py). Every API is for admins and
// services, except POST /reshaper, which only services may call, and GET /usages, which a
// project's readers may also call for their own project.
// Placement's "admin_api" rule is not registered: Nova defines a rule of that name
// differently ("is_admin:True") in the same shared namespace, and no Placement default
// refers to it.
const (
	ruleAdminOrService       = "rule:admin_or_service_api"
	ruleService              = "rule:service_api"
	ruleAdminOrReaderService = "rule:admin_or_project_reader_or_service_api"
)

// Placement's rule names (placement/policies/*.py).
const (
	policyRCList   = "placement:resource_classes:list"
	policyRCCreate = "placement:resource_classes:create"
	policyRCShow   = "placement:resource_classes:show"
	policyRCUpdate = "placement:resource_classes:update"
	policyRCDelete = "placement:resource_classes:delete"

	policyRPList   = "placement:resource_providers:list"
	policyRPCreate = "placement:resource_providers:create"
	policyRPShow   = "placement:resource_providers:show"
	policyRPUpdate = "placement:resource_providers:update"
	policyRPDelete = "placement:resource_providers:delete"

	policyInvList   = "placement:resource_providers:inventories:list"
	policyInvCreate = "placement:resource_providers:inventories:create"
	policyInvShow   = "placement:resource_providers:inventories:show"
	policyInvUpdate = "placement:resource_providers:inventories:update"
	policyInvDelete = "placement:resource_providers:inventories:delete"

	policyAggList   = "placement:resource_providers:aggregates:list"
	policyAggUpdate = "placement:resource_providers:aggregates:update"

	policyRPUsages    = "placement:resource_providers:usages"
	policyTotalUsages = "placement:usages"

	policyRPAllocList   = "placement:resource_providers:allocations:list"
	policyAllocList     = "placement:allocations:list"
	policyAllocManage   = "placement:allocations:manage"
	policyAllocUpdate   = "placement:allocations:update"
	policyAllocDelete   = "placement:allocations:delete"
	policyCandidateList = "placement:allocation_candidates:list"

	policyTraitList     = "placement:traits:list"
	policyTraitShow     = "placement:traits:show"
	policyTraitUpdate   = "placement:traits:update"
	policyTraitDelete   = "placement:traits:delete"
	policyRPTraitList   = "placement:resource_providers:traits:list"
	policyRPTraitUpdate = "placement:resource_providers:traits:update"
	policyRPTraitDelete = "placement:resource_providers:traits:delete"

	policyReshape = "placement:reshaper:reshape"
)

// defaultPolicies returns Placement's default rules.
func defaultPolicies() map[string]string {
	out := map[string]string{
		"service_api":                            "role:service",
		"admin_or_service_api":                   "role:admin or role:service",
		"project_reader_api":                     "role:reader and project_id:%(project_id)s",
		"admin_or_project_reader_or_service_api": "role:admin or rule:project_reader_api or role:service",
		policyTotalUsages:                        ruleAdminOrReaderService,
		policyReshape:                            ruleService,
	}
	for _, name := range []string{
		policyRCList, policyRCCreate, policyRCShow, policyRCUpdate, policyRCDelete,
		policyRPList, policyRPCreate, policyRPShow, policyRPUpdate, policyRPDelete,
		policyInvList, policyInvCreate, policyInvShow, policyInvUpdate, policyInvDelete,
		policyAggList, policyAggUpdate, policyRPUsages,
		policyRPAllocList, policyAllocList, policyAllocManage, policyAllocUpdate, policyAllocDelete,
		policyCandidateList,
		policyTraitList, policyTraitShow, policyTraitUpdate, policyTraitDelete,
		policyRPTraitList, policyRPTraitUpdate, policyRPTraitDelete,
	} {
		out[name] = ruleAdminOrService
	}
	return out
}
