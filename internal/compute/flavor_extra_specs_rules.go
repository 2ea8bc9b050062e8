package compute

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"sync"
)

// extraSpecRule is one of Nova's extra spec validators (nova/api/validation/extra_specs):
// a key pattern and the type and constraints of its value. From 2.86 Nova refuses a value
// that breaks its rule, and a key in one of the namespaces it knows ("hw", "quota",
// "resources", ...) that matches no rule; keys in other namespaces or with none are
// accepted as they are.
type extraSpecRule struct {
	name, regex, kind, pattern string
	enum                       []string
	min, max                   *int64
}

func ptr[T any](v T) *T { return &v }

// extraSpecRules is Nova's validator registry. The generated per-name entries for
// os-resource-classes and os-traits are folded into one pattern each.
var extraSpecRules = []extraSpecRule{
	{name: "accel:device_profile", regex: "accel:device_profile", kind: "str"},
	{name: "aggregate_instance_extra_specs:{key}", regex: "aggregate_instance_extra_specs:(?P<key>.+)", kind: "str"},
	{name: "capabilities:id", regex: "capabilities:id", kind: "str"},
	{name: "capabilities:uuid", regex: "capabilities:uuid", kind: "str"},
	{name: "capabilities:service_id", regex: "capabilities:service_id", kind: "str"},
	{name: "capabilities:host", regex: "capabilities:host", kind: "str"},
	{name: "capabilities:vcpus", regex: "capabilities:vcpus", kind: "str"},
	{name: "capabilities:memory_mb", regex: "capabilities:memory_mb", kind: "str"},
	{name: "capabilities:local_gb", regex: "capabilities:local_gb", kind: "str"},
	{name: "capabilities:vcpus_used", regex: "capabilities:vcpus_used", kind: "str"},
	{name: "capabilities:memory_mb_used", regex: "capabilities:memory_mb_used", kind: "str"},
	{name: "capabilities:local_gb_used", regex: "capabilities:local_gb_used", kind: "str"},
	{name: "capabilities:hypervisor_type", regex: "capabilities:hypervisor_type", kind: "str"},
	{name: "capabilities:hypervisor_version", regex: "capabilities:hypervisor_version", kind: "str"},
	{name: "capabilities:hypervisor_hostname", regex: "capabilities:hypervisor_hostname", kind: "str"},
	{name: "capabilities:free_ram_mb", regex: "capabilities:free_ram_mb", kind: "str"},
	{name: "capabilities:free_disk_gb", regex: "capabilities:free_disk_gb", kind: "str"},
	{name: "capabilities:current_workload", regex: "capabilities:current_workload", kind: "str"},
	{name: "capabilities:running_vms", regex: "capabilities:running_vms", kind: "str"},
	{name: "capabilities:disk_available_least", regex: "capabilities:disk_available_least", kind: "str"},
	{name: "capabilities:host_ip", regex: "capabilities:host_ip", kind: "str"},
	{name: "capabilities:mapped", regex: "capabilities:mapped", kind: "str"},
	{name: "capabilities:cpu_allocation_ratio", regex: "capabilities:cpu_allocation_ratio", kind: "str"},
	{name: "capabilities:ram_allocation_ratio", regex: "capabilities:ram_allocation_ratio", kind: "str"},
	{name: "capabilities:disk_allocation_ratio", regex: "capabilities:disk_allocation_ratio", kind: "str"},
	{name: "capabilities:total_usable_ram_mb", regex: "capabilities:total_usable_ram_mb", kind: "str"},
	{name: "capabilities:total_usable_disk_gb", regex: "capabilities:total_usable_disk_gb", kind: "str"},
	{name: "capabilities:disk_mb_used", regex: "capabilities:disk_mb_used", kind: "str"},
	{name: "capabilities:free_disk_mb", regex: "capabilities:free_disk_mb", kind: "str"},
	{name: "capabilities:vcpus_total", regex: "capabilities:vcpus_total", kind: "str"},
	{name: "capabilities:vcpus_used", regex: "capabilities:vcpus_used", kind: "str"},
	{name: "capabilities:num_instances", regex: "capabilities:num_instances", kind: "str"},
	{name: "capabilities:num_io_ops", regex: "capabilities:num_io_ops", kind: "str"},
	{name: "capabilities:failed_builds", regex: "capabilities:failed_builds", kind: "str"},
	{name: "capabilities:aggregates", regex: "capabilities:aggregates", kind: "str"},
	{name: "capabilities:cell_uuid", regex: "capabilities:cell_uuid", kind: "str"},
	{name: "capabilities:updated", regex: "capabilities:updated", kind: "str"},
	{name: "capabilities:cpu_info{filter}", regex: "capabilities:cpu_info(?P<filter>(:\\w+)*)", kind: "str"},
	{name: "capabilities:metrics{filter}", regex: "capabilities:metrics(?P<filter>(:\\w+)*)", kind: "str"},
	{name: "capabilities:stats{filter}", regex: "capabilities:stats(?P<filter>(:\\w+)*)", kind: "str"},
	{name: "capabilities:numa_topology{filter}", regex: "capabilities:numa_topology(?P<filter>(:\\w+)*)", kind: "str"},
	{name: "capabilities:supported_hv_specs{filter}", regex: "capabilities:supported_hv_specs(?P<filter>(:\\w+)*)", kind: "str"},
	{name: "capabilities:pci_device_pools{filter}", regex: "capabilities:pci_device_pools(?P<filter>(:\\w+)*)", kind: "str"},
	{name: "capabilities:nodename{filter}", regex: "capabilities:nodename(?P<filter>(:\\w+)*)", kind: "str"},
	{name: "capabilities:pci_stats{filter}", regex: "capabilities:pci_stats(?P<filter>(:\\w+)*)", kind: "str"},
	{name: "capabilities:supported_instances{filter}", regex: "capabilities:supported_instances(?P<filter>(:\\w+)*)", kind: "str"},
	{name: "capabilities:limits{filter}", regex: "capabilities:limits(?P<filter>(:\\w+)*)", kind: "str"},
	{name: "capabilities:instances{filter}", regex: "capabilities:instances(?P<filter>(:\\w+)*)", kind: "str"},
	{name: "hw:cpu_realtime", regex: "hw:cpu_realtime", kind: "bool"},
	{name: "hw:cpu_realtime_mask", regex: "hw:cpu_realtime_mask", kind: "str", pattern: "(\\^)?\\d+((-\\d+)?(,\\^?\\d+(-\\d+)?)?)*"},
	{name: "hw:hide_hypervisor_id", regex: "hw:hide_hypervisor_id", kind: "bool"},
	{name: "hw:cpu_policy", regex: "hw:cpu_policy", kind: "str", enum: []string{"dedicated", "shared", "mixed"}},
	{name: "hw:cpu_thread_policy", regex: "hw:cpu_thread_policy", kind: "str", enum: []string{"prefer", "isolate", "require"}},
	{name: "hw:emulator_threads_policy", regex: "hw:emulator_threads_policy", kind: "str", enum: []string{"isolate", "share"}},
	{name: "hw:cpu_dedicated_mask", regex: "hw:cpu_dedicated_mask", kind: "str", pattern: "\\^?\\d+((-\\d+)?(,\\^?\\d+(-\\d+)?)?)*"},
	{name: "hw:mem_page_size", regex: "hw:mem_page_size", kind: "str", pattern: "(large|small|any|\\d+([kKMGT]i?)?(b|bit|B)?)"},
	{name: "hw:locked_memory", regex: "hw:locked_memory", kind: "bool"},
	{name: "hw:numa_nodes", regex: "hw:numa_nodes", kind: "int", min: ptr(int64(1))},
	{name: "hw:numa_cpus.{num}", regex: "hw:numa_cpus.(?P<num>\\d+)", kind: "str", pattern: "\\^?\\d+((-\\d+)?(,\\^?\\d+(-\\d+)?)?)*"},
	{name: "hw:numa_mem.{num}", regex: "hw:numa_mem.(?P<num>\\d+)", kind: "int", min: ptr(int64(1))},
	{name: "hw:pci_numa_affinity_policy", regex: "hw:pci_numa_affinity_policy", kind: "str", enum: []string{"required", "preferred", "legacy", "socket"}},
	{name: "hw:cpu_sockets", regex: "hw:cpu_sockets", kind: "int", min: ptr(int64(1))},
	{name: "hw:cpu_cores", regex: "hw:cpu_cores", kind: "int", min: ptr(int64(1))},
	{name: "hw:cpu_threads", regex: "hw:cpu_threads", kind: "int", min: ptr(int64(1))},
	{name: "hw:cpu_max_sockets", regex: "hw:cpu_max_sockets", kind: "int", min: ptr(int64(1))},
	{name: "hw:cpu_max_cores", regex: "hw:cpu_max_cores", kind: "int", min: ptr(int64(1))},
	{name: "hw:cpu_max_threads", regex: "hw:cpu_max_threads", kind: "int", min: ptr(int64(1))},
	{name: "hw:boot_menu", regex: "hw:boot_menu", kind: "bool"},
	{name: "hw:vif_multiqueue_enabled", regex: "hw:vif_multiqueue_enabled", kind: "bool"},
	{name: "hw:mem_encryption", regex: "hw:mem_encryption", kind: "bool"},
	{name: "hw:mem_encryption_model", regex: "hw:mem_encryption_model", kind: "str", enum: []string{"amd-sev", "amd-sev-es", "amd-sev-snp"}},
	{name: "hw:pmem", regex: "hw:pmem", kind: "str", pattern: "([a-zA-Z0-9_]+(,)?)+"},
	{name: "hw:pmu", regex: "hw:pmu", kind: "bool"},
	{name: "hw:serial_port_count", regex: "hw:serial_port_count", kind: "int", min: ptr(int64(0))},
	{name: "hw:tpm_model", regex: "hw:tpm_model", kind: "str", enum: []string{"tpm-tis", "tpm-crb"}},
	{name: "hw:tpm_version", regex: "hw:tpm_version", kind: "str", enum: []string{"1.2", "2.0"}},
	{name: "hw:tpm_secret_security", regex: "hw:tpm_secret_security", kind: "str", enum: []string{"user", "host", "deployment"}},
	{name: "hw:watchdog_action", regex: "hw:watchdog_action", kind: "str", enum: []string{"none", "pause", "poweroff", "reset", "disabled"}},
	{name: "hw:viommu_model", regex: "hw:viommu_model", kind: "str", enum: []string{"intel", "smmuv3", "virtio", "auto"}},
	{name: "hw:virtio_packed_ring", regex: "hw:virtio_packed_ring", kind: "bool"},
	{name: "hw:sound_model", regex: "hw:sound_model", kind: "str", enum: []string{"sb16", "es1370", "pcspk", "ac97", "ich6", "ich9", "usb", "virtio"}},
	{name: "hw:usb_model", regex: "hw:usb_model", kind: "str", enum: []string{"none", "nec-xhci", "qemu-xhci"}},
	{name: "hw:redirected_usb_ports", regex: "hw:redirected_usb_ports", kind: "int", min: ptr(int64(0)), max: ptr(int64(15))},
	{name: "hw:ephemeral_encryption", regex: "hw:ephemeral_encryption", kind: "bool"},
	{name: "hw:ephemeral_encryption_format", regex: "hw:ephemeral_encryption_format", kind: "str", enum: []string{"plain", "luks", "luksv2"}},
	{name: "hw_rng:allowed", regex: "hw_rng:allowed", kind: "bool"},
	{name: "hw_rng:rate_bytes", regex: "hw_rng:rate_bytes", kind: "int", min: ptr(int64(0))},
	{name: "hw_rng:rate_period", regex: "hw_rng:rate_period", kind: "int", min: ptr(int64(0))},
	{name: "hw_video:ram_max_mb", regex: "hw_video:ram_max_mb", kind: "int", min: ptr(int64(0))},
	{name: "hide_hypervisor_id", regex: "hide_hypervisor_id", kind: "bool"},
	{name: "group_policy", regex: "group_policy", kind: "str", enum: []string{"isolate", "none"}},
	{name: "os:secure_boot", regex: "os:secure_boot", kind: "str", enum: []string{"disabled", "required"}},
	{name: "pci_passthrough:alias", regex: "pci_passthrough:alias", kind: "str", pattern: "[^:]+:\\d+(?:\\s*,\\s*[^:]+:\\d+)*"},
	{name: "quota:cpu_limit", regex: "quota:cpu_limit", kind: "int", min: ptr(int64(0))},
	{name: "quota:cpu_reservation", regex: "quota:cpu_reservation", kind: "int"},
	{name: "quota:cpu_shares_level", regex: "quota:cpu_shares_level", kind: "str", enum: []string{"custom", "high", "normal", "low"}},
	{name: "quota:cpu_shares_share", regex: "quota:cpu_shares_share", kind: "int", min: ptr(int64(0))},
	{name: "quota:memory_limit", regex: "quota:memory_limit", kind: "int", min: ptr(int64(0))},
	{name: "quota:memory_reservation", regex: "quota:memory_reservation", kind: "int"},
	{name: "quota:memory_shares_level", regex: "quota:memory_shares_level", kind: "str", enum: []string{"custom", "high", "normal", "low"}},
	{name: "quota:memory_shares_share", regex: "quota:memory_shares_share", kind: "int", min: ptr(int64(0))},
	{name: "quota:disk_io_limit", regex: "quota:disk_io_limit", kind: "int", min: ptr(int64(0))},
	{name: "quota:disk_io_reservation", regex: "quota:disk_io_reservation", kind: "int"},
	{name: "quota:disk_io_shares_level", regex: "quota:disk_io_shares_level", kind: "str", enum: []string{"custom", "high", "normal", "low"}},
	{name: "quota:disk_io_shares_share", regex: "quota:disk_io_shares_share", kind: "int", min: ptr(int64(0))},
	{name: "quota:vif_limit", regex: "quota:vif_limit", kind: "int", min: ptr(int64(0))},
	{name: "quota:vif_reservation", regex: "quota:vif_reservation", kind: "int"},
	{name: "quota:vif_shares_level", regex: "quota:vif_shares_level", kind: "str", enum: []string{"custom", "high", "normal", "low"}},
	{name: "quota:vif_shares_share", regex: "quota:vif_shares_share", kind: "int", min: ptr(int64(0))},
	{name: "quota:cpu_shares", regex: "quota:cpu_shares", kind: "int", min: ptr(int64(0))},
	{name: "quota:cpu_period", regex: "quota:cpu_period", kind: "int", min: ptr(int64(0))},
	{name: "quota:cpu_quota", regex: "quota:cpu_quota", kind: "int"},
	{name: "quota:disk_read_bytes_sec", regex: "quota:disk_read_bytes_sec", kind: "int", min: ptr(int64(0))},
	{name: "quota:disk_read_iops_sec", regex: "quota:disk_read_iops_sec", kind: "int", min: ptr(int64(0))},
	{name: "quota:disk_write_bytes_sec", regex: "quota:disk_write_bytes_sec", kind: "int", min: ptr(int64(0))},
	{name: "quota:disk_write_iops_sec", regex: "quota:disk_write_iops_sec", kind: "int", min: ptr(int64(0))},
	{name: "quota:disk_total_bytes_sec", regex: "quota:disk_total_bytes_sec", kind: "int", min: ptr(int64(0))},
	{name: "quota:disk_total_iops_sec", regex: "quota:disk_total_iops_sec", kind: "int", min: ptr(int64(0))},
	{name: "quota:vif_inbound_average", regex: "quota:vif_inbound_average", kind: "int", min: ptr(int64(0))},
	{name: "quota:vif_inbound_peak", regex: "quota:vif_inbound_peak", kind: "int", min: ptr(int64(0))},
	{name: "quota:vif_inbound_burst", regex: "quota:vif_inbound_burst", kind: "int", min: ptr(int64(0))},
	{name: "quota:vif_outbound_average", regex: "quota:vif_outbound_average", kind: "int", min: ptr(int64(0))},
	{name: "quota:vif_outbound_peak", regex: "quota:vif_outbound_peak", kind: "int", min: ptr(int64(0))},
	{name: "quota:vif_outbound_burst", regex: "quota:vif_outbound_burst", kind: "int", min: ptr(int64(0))},
	{name: "resources{group}:CUSTOM_{resource}", regex: "resources(?P<group>([a-zA-Z0-9_-]{1,64})?):(?P<resource>[A-Z0-9_]+)", kind: "int"},
	{name: "trait{group}:CUSTOM_{trait}", regex: "trait(?P<group>([a-zA-Z0-9_-]{1,64})?):(?P<trait>[A-Z0-9_]+)", kind: "str", enum: []string{"required", "forbidden"}},
	{name: "vmware:hw_version", regex: "vmware:hw_version", kind: "str"},
	{name: "vmware:storage_policy", regex: "vmware:storage_policy", kind: "str"},
}

// compiledSpecRules are extraSpecRules with anchored regexes, and the namespaces they
// define (the part of a pattern before ':'), compiled once.
var compiledSpecRules = sync.OnceValues(func() ([]compiledSpecRule, []*regexp.Regexp) {
	var rules []compiledSpecRule
	var namespaces []*regexp.Regexp
	seen := map[string]bool{}
	for _, r := range extraSpecRules {
		c := compiledSpecRule{rule: r, re: regexp.MustCompile(`^(?:` + r.regex + `)$`)}
		if r.pattern != "" {
			c.value = regexp.MustCompile(`^(?:` + r.pattern + `)$`)
		}
		rules = append(rules, c)
		if ns, _, ok := strings.Cut(r.regex, ":"); ok && !seen[ns] {
			seen[ns] = true
			namespaces = append(namespaces, regexp.MustCompile(`^(?:`+ns+`)$`))
		}
	}
	return rules, namespaces
})

// compiledSpecRule is an extraSpecRule ready to match.
type compiledSpecRule struct {
	rule  extraSpecRule
	re    *regexp.Regexp
	value *regexp.Regexp
}

// validateExtraSpec is Nova's validators.validate: it returns the reason a key or value
// is refused, or "" when it is acceptable.
func validateExtraSpec(name, value string) string {
	rules, namespaces := compiledSpecRules()
	for _, c := range rules {
		if c.rule.name == name || c.re.MatchString(name) {
			return c.check(value)
		}
	}
	ns, _, ok := strings.Cut(name, ":")
	if !ok {
		return ""
	}
	for _, re := range namespaces {
		if re.MatchString(ns) {
			return fmt.Sprintf("Validation failed; extra spec '%s' does not appear to be a valid extra spec.", name)
		}
	}
	return ""
}

// check validates a value against the rule.
func (c compiledSpecRule) check(value string) string {
	switch c.rule.kind {
	case "int":
		n, err := strconv.ParseInt(strings.TrimSpace(value), 10, 64)
		if err != nil {
			return fmt.Sprintf("Validation failed; '%s' is not a valid integer value.", value)
		}
		if c.rule.max != nil && *c.rule.max < n {
			return fmt.Sprintf("Validation failed; '%s' is greater than the max value of '%d'.", value, *c.rule.max)
		}
		if c.rule.min != nil && *c.rule.min > n {
			return fmt.Sprintf("Validation failed; '%s' is less than the min value of '%d'.", value, *c.rule.min)
		}
	case "bool":
		if _, ok := strictBool(value); !ok {
			return fmt.Sprintf("Validation failed; '%s' is not a valid boolean-like value.", value)
		}
	default:
		if c.value != nil {
			if !c.value.MatchString(value) {
				return fmt.Sprintf("Validation failed; '%s' is not of the format '%s'.", value, c.rule.pattern)
			}
		} else if c.rule.enum != nil {
			for _, e := range c.rule.enum {
				if e == value {
					return ""
				}
			}
			return fmt.Sprintf("Validation failed; '%s' is not one of: %s.", value, strings.Join(c.rule.enum, ", "))
		}
	}
	return ""
}
