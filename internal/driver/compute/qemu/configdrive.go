package qemu

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	computedriver "github.com/gostack/gostack/internal/driver/compute"
	"github.com/gostack/gostack/internal/platform"
)

// OpenStack metadata versions a config drive carries (Nova's OPENSTACK_VERSIONS up to
// Victoria), then "latest"; fields appear from the version that introduced them.
var metadataVersions = []string{"2012-08-10", "2013-04-04", "2013-10-17", "2015-10-15", "2016-06-30",
	"2016-10-06", "2017-02-22", "2018-08-27", "2020-10-14", "latest"}

// ec2Versions are the EC2 metadata versions of a config drive.
var ec2Versions = []string{"2009-04-04", "latest"}

// dhcpDomain is appended to hostnames in the metadata, as Nova's [api] dhcp_domain.
const dhcpDomain = "novalocal"

// atLeast reports whether metadata version v includes what version since introduced.
func atLeast(v, since string) bool { return v == "latest" || v >= since }

// configDriveFiles returns the files of an instance's config drive, by path, as Nova's
// InstanceMetadata lays them out. randomSeed is the bytes behind random_seed (nil:
// none; tests pass fixed bytes).
func configDriveFiles(inst *computedriver.Instance, randomSeed []byte) (map[string][]byte, error) {
	files := map[string][]byte{}
	hostname := inst.Hostname
	if hostname == "" {
		hostname = inst.DisplayName
	}
	if hostname != "" {
		hostname += "." + dhcpDomain
	}
	meta := inst.Metadata
	if meta == nil {
		meta = map[string]string{}
	}
	netData := inst.NetworkData
	if len(netData) == 0 {
		nd, err := networkData(inst.NICs)
		if err != nil {
			return nil, err
		}
		netData = nd
	}
	vendor := inst.VendorData
	if len(vendor) == 0 {
		vendor = []byte("{}")
	}
	for _, v := range metadataVersions {
		md := map[string]any{"uuid": inst.UUID, "meta": meta, "hostname": hostname, "name": inst.DisplayName,
			"launch_index": inst.LaunchIndex, "availability_zone": inst.AvailabilityZone}
		if inst.KeyData != "" {
			name := inst.KeyName
			if name == "" {
				name = "key"
			}
			md["public_keys"] = map[string]string{name: inst.KeyData}
			md["keys"] = []map[string]string{{"name": name, "type": keyType(inst.KeyData), "data": inst.KeyData}}
		}
		if atLeast(v, "2013-04-04") && randomSeed != nil {
			md["random_seed"] = base64.StdEncoding.EncodeToString(randomSeed)
		}
		if atLeast(v, "2015-10-15") {
			md["project_id"] = inst.ProjectID
		}
		if atLeast(v, "2016-06-30") {
			md["devices"] = []any{}
		}
		if atLeast(v, "2020-10-14") {
			// No dedicated (pinned) CPUs: this driver does not pin.
			md["dedicated_cpus"] = []int{}
		}
		b, err := json.Marshal(md)
		if err != nil {
			return nil, err
		}
		dir := "openstack/" + v + "/"
		files[dir+"meta_data.json"] = b
		if inst.UserData != nil {
			files[dir+"user_data"] = inst.UserData
		}
		if atLeast(v, "2013-10-17") {
			files[dir+"vendor_data.json"] = vendor
		}
		if atLeast(v, "2015-10-15") {
			files[dir+"network_data.json"] = netData
		}
		if atLeast(v, "2016-10-06") {
			files[dir+"vendor_data2.json"] = []byte("{}")
		}
	}
	ec2, err := ec2Metadata(inst, hostname)
	if err != nil {
		return nil, err
	}
	for _, v := range ec2Versions {
		files["ec2/"+v+"/meta-data.json"] = ec2
		if inst.UserData != nil {
			files["ec2/"+v+"/user-data"] = inst.UserData
		}
	}
	return files, nil
}

// keyType guesses a public key's type ("ssh" or "x509") as Nova stores it.
func keyType(key string) string {
	if strings.Contains(key, "BEGIN CERTIFICATE") {
		return "x509"
	}
	return "ssh"
}

// ec2Metadata is the EC2 meta-data.json of a config drive.
func ec2Metadata(inst *computedriver.Instance, hostname string) ([]byte, error) {
	md := map[string]any{"ami-id": "ami-00000001", "ami-launch-index": inst.LaunchIndex, "ami-manifest-path": "FIXME",
		"hostname": hostname, "local-hostname": hostname, "public-hostname": hostname, "instance-id": ec2ID(inst.Name),
		"instance-type": inst.Flavor.Name, "local-ipv4": firstIP(inst.NICs), "reservation-id": "",
		"security-groups": []string{}, "placement": map[string]string{"availability-zone": inst.AvailabilityZone},
		"block-device-mapping": map[string]string{"ami": "vda", "root": "/dev/vda"}}
	if inst.KeyData != "" {
		md["public-keys"] = map[string]any{"0": map[string]string{"openssh-key": inst.KeyData}}
	}
	return json.Marshal(md)
}

// ec2ID turns "instance-0000002a" into Nova's EC2 id "i-0000002a".
func ec2ID(name string) string {
	if s, ok := strings.CutPrefix(name, "instance-"); ok {
		return "i-" + s
	}
	return "i-" + name
}

// firstIP is the first fixed IP of the instance, or "".
func firstIP(nics []computedriver.NIC) string {
	for _, n := range nics {
		if len(n.FixedIPs) > 0 {
			return n.FixedIPs[0]
		}
	}
	return ""
}

// networkData is a network_data.json for NICs configured by DHCP (used when the
// compute service did not provide one).
func networkData(nics []computedriver.NIC) ([]byte, error) {
	links, networks := []map[string]any{}, []map[string]any{}
	for i, n := range nics {
		link := map[string]any{"id": n.DeviceName, "vif_id": n.PortID, "type": "ovs", "ethernet_mac_address": n.MACAddress}
		if n.MTU > 0 {
			link["mtu"] = n.MTU
		}
		links = append(links, link)
		networks = append(networks, map[string]any{"id": fmt.Sprintf("network%d", i), "type": "ipv4_dhcp",
			"link": n.DeviceName, "network_id": n.NetworkID})
	}
	return json.Marshal(map[string]any{"links": links, "networks": networks, "services": []any{}})
}

// makeConfigDrive writes the config drive ISO (label config-2) at path with the
// runner's genisoimage, as Nova's configdrive does.
func (d *Driver) makeConfigDrive(ctx context.Context, inst *computedriver.Instance, path string) error {
	if exists(path) {
		return nil
	}
	seed := make([]byte, 512)
	_, _ = rand.Read(seed)
	files, err := configDriveFiles(inst, seed)
	if err != nil {
		return err
	}
	tree, err := os.MkdirTemp(filepath.Dir(path), ".configdrive-")
	if err != nil {
		return fmt.Errorf("qemu: %w", err)
	}
	defer os.RemoveAll(tree)
	names := make([]string, 0, len(files))
	for name := range files {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		p := filepath.Join(tree, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o750); err != nil {
			return fmt.Errorf("qemu: %w", err)
		}
		if err := os.WriteFile(p, files[name], 0o640); err != nil {
			return fmt.Errorf("qemu: %w", err)
		}
	}
	tmp := path + ".tmp"
	if _, err := d.run.Run(ctx, platform.Command{Name: "genisoimage", Args: []string{"-o", tmp, "-ldots", "-allow-lowercase",
		"-allow-multidot", "-l", "-publisher", "gostack", "-quiet", "-J", "-r", "-V", "config-2", tree}}); err != nil {
		return fmt.Errorf("qemu: build config drive: %w", err)
	}
	return renameInto(tmp, path)
}
