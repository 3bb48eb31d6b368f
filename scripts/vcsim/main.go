// vcsim for cpucompat's tests: govmomi's vCenter simulator (Debian's golang-github-vmware-govmomi-dev)
// on a loopback port. Built by scripts/build-vcsim.sh; started by tests/vsphere/conftest.py.
//
//	vcsim [-listen 127.0.0.1:0] [-load DIR] [-cluster N -cluster-host N -host N -vm N -ds N]
//	      [-user U -pass P] [-tls -cert-out FILE] [-evc-vms]
//
// Prints "URL http://127.0.0.1:PORT/sdk" on stdout once serving; exits on SIGTERM/SIGINT or when
// standard input closes (so it never outlives the test session that started it).
//
// Extension: every host gets a HostVirtualNicManager (vcsim 0.24 has none) whose
// SelectVnicForNicType / DeselectVnicForNicType update config.virtualNicManagerInfo, so tests can
// make a host without a vMotion VMkernel interface through the API. Hosts start with vmk0
// selected for vMotion, as in a cluster where vMotion is configured. With -evc-vms, VMs accept
// ApplyEvcModeVM_Task (per-VM EVC: the mask becomes runtime.featureMask; powered-off VMs only)
// and the service and its hosts say API 7.0.3.0. Every VM applies the cpuFeatureMask of a ReconfigVM_Task to
// config.cpuFeatureMask (the legacy per-VM CPUID mask; vcsim 0.24 ignores it). With -dvs-uplinks,
// distributed switches keep the host members' backing (the physical NICs each host gives them as
// uplinks) in config.host, for add and edit (vcsim 0.24 keeps only summary.hostMember and refuses
// edit); vcsim then no longer recognises them as its own switches where it checks a VM's
// DistributedVirtualPortBackingInfo, so such a test connects adapters by port group name.
package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"net"
	"time"
	"encoding/pem"
	"flag"
	"fmt"
	"io"
	"io/ioutil"
	"log"
	"net/url"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/vim25/methods"
	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/soap"
	"github.com/vmware/govmomi/vim25/types"
)

type vnicManager struct {
	mo.HostVirtualNicManager
	host types.ManagedObjectReference
}

func (m *vnicManager) netConfig(nicType string) *types.VirtualNicManagerNetConfig {
	h := simulator.Map.Get(m.host).(*simulator.HostSystem)
	if h.Config == nil || h.Config.VirtualNicManagerInfo == nil {
		return nil
	}
	for i := range h.Config.VirtualNicManagerInfo.NetConfig {
		c := &h.Config.VirtualNicManagerInfo.NetConfig[i]
		if c.NicType == nicType {
			return c
		}
	}
	return nil
}

func (m *vnicManager) SelectVnicForNicType(req *types.SelectVnicForNicType) soap.HasFault {
	body := &methods.SelectVnicForNicTypeBody{}
	c := m.netConfig(req.NicType)
	if c == nil {
		body.Fault_ = simulator.Fault("", &types.InvalidArgument{InvalidProperty: "nicType"})
		return body
	}
	key := req.NicType + ".key-vim.host.VirtualNic-" + req.Device
	for _, s := range c.SelectedVnic {
		if s == key {
			body.Res = &types.SelectVnicForNicTypeResponse{}
			return body
		}
	}
	c.SelectedVnic = append(c.SelectedVnic, key)
	body.Res = &types.SelectVnicForNicTypeResponse{}
	return body
}

func (m *vnicManager) DeselectVnicForNicType(req *types.DeselectVnicForNicType) soap.HasFault {
	body := &methods.DeselectVnicForNicTypeBody{}
	c := m.netConfig(req.NicType)
	if c == nil {
		body.Fault_ = simulator.Fault("", &types.InvalidArgument{InvalidProperty: "nicType"})
		return body
	}
	var kept []string
	for _, s := range c.SelectedVnic {
		if !strings.HasSuffix(s, "-"+req.Device) {
			kept = append(kept, s)
		}
	}
	c.SelectedVnic = kept
	body.Res = &types.DeselectVnicForNicTypeResponse{}
	return body
}

func addVnicManagers() {
	for _, ref := range simulator.Map.All("HostSystem") {
		h := simulator.Map.Get(ref.Reference()).(*simulator.HostSystem)
		if h.ConfigManager.VirtualNicManager != nil && simulator.Map.Get(*h.ConfigManager.VirtualNicManager) != nil {
			continue
		}
		m := &vnicManager{host: h.Self}
		m.Self = types.ManagedObjectReference{Type: "HostVirtualNicManager", Value: "virtualNicManager-" + h.Self.Value}
		simulator.Map.Put(m)
		self := m.Self
		h.ConfigManager.VirtualNicManager = &self
		if c := m.netConfig("vmotion"); c != nil && len(c.SelectedVnic) == 0 && len(c.CandidateVnic) > 0 {
			c.SelectedVnic = []string{c.CandidateVnic[0].Key}
		}
	}
}

// evcVM adds per-VM EVC (vcsim 0.24 has no ApplyEvcModeVM_Task): the mask becomes the VM's
// runtime.featureMask, as vCenter does; refused unless the VM is powered off. With -evc-vms only.
type evcVM struct {
	maskVM
}

// maskVM applies a ReconfigVM_Task's cpuFeatureMask (VirtualMachineCpuIdInfoSpec: add or edit
// replaces the entry of the same level and vendor, remove drops the level given as removeKey).
type maskVM struct {
	simulator.VirtualMachine // by value: vcsim's property collector digs out the first embedded struct
}

func (vm *maskVM) ReconfigVMTask(ctx *simulator.Context, req *types.ReconfigVM_Task) soap.HasFault {
	for _, spec := range req.Spec.CpuFeatureMask {
		var kept []types.HostCpuIdInfo
		for _, info := range vm.Config.CpuFeatureMask {
			same := spec.Info != nil && info.Level == spec.Info.Level && info.Vendor == spec.Info.Vendor
			removed := spec.Operation == types.ArrayUpdateOperationRemove && fmt.Sprint(spec.RemoveKey) == fmt.Sprint(info.Level)
			if !same && !removed {
				kept = append(kept, info)
			}
		}
		if spec.Operation != types.ArrayUpdateOperationRemove && spec.Info != nil {
			kept = append(kept, *spec.Info)
		}
		vm.Config.CpuFeatureMask = kept
	}
	return vm.VirtualMachine.ReconfigVMTask(ctx, req)
}

// dvsUplinks keeps each host member's backing in config.host (see the header).
type dvsUplinks struct {
	simulator.DistributedVirtualSwitch
}

func (s *dvsUplinks) ReconfigureDvsTask(req *types.ReconfigureDvs_Task) soap.HasFault {
	spec := req.Spec.GetDVSConfigSpec()
	config := s.Config.GetDVSConfigInfo()
	var passed []types.DistributedVirtualSwitchHostMemberConfigSpec
	for _, member := range spec.Host {
		var kept []types.DistributedVirtualSwitchHostMember
		for _, m := range config.Host {
			if m.Config.Host == nil || *m.Config.Host != member.Host {
				kept = append(kept, m)
			}
		}
		if member.Operation != string(types.ConfigSpecOperationRemove) {
			host := member.Host
			backing := member.Backing
			if backing == nil {
				backing = &types.DistributedVirtualSwitchHostMemberPnicBacking{}
			}
			kept = append(kept, types.DistributedVirtualSwitchHostMember{
				Config: types.DistributedVirtualSwitchHostMemberConfigInfo{Host: &host, Backing: backing}, Status: "up"})
		}
		config.Host = kept
		if member.Operation != string(types.ConfigSpecOperationEdit) { // vcsim refuses edit; the rest is its own
			passed = append(passed, member)
		}
	}
	spec.Host = passed
	return s.DistributedVirtualSwitch.ReconfigureDvsTask(req)
}

func extendObjects(evc, dvs bool) {
	for _, ref := range simulator.Map.All("VirtualMachine") {
		vm, ok := simulator.Map.Get(ref.Reference()).(*simulator.VirtualMachine)
		if !ok {
			log.Printf("vcsim: %s is a %T", ref.Reference(), simulator.Map.Get(ref.Reference()))
		} else if evc {
			simulator.Map.Put(&evcVM{maskVM{*vm}})
		} else {
			simulator.Map.Put(&maskVM{*vm})
		}
	}
	for _, ref := range simulator.Map.All("DistributedVirtualSwitch") {
		if !dvs {
			break
		}
		if dvs, ok := simulator.Map.Get(ref.Reference()).(*simulator.DistributedVirtualSwitch); ok {
			simulator.Map.Put(&dvsUplinks{*dvs})
		}
	}
}

func (vm *evcVM) ApplyEvcModeVMTask(req *types.ApplyEvcModeVM_Task) soap.HasFault {
	task := simulator.CreateTask(req.This, "applyEvcModeVM", func(*simulator.Task) (types.AnyType, types.BaseMethodFault) {
		if vm.Runtime.PowerState != types.VirtualMachinePowerStatePoweredOff {
			return nil, &types.InvalidPowerState{
				RequestedState: types.VirtualMachinePowerStatePoweredOff,
				ExistingState:  vm.Runtime.PowerState,
			}
		}
		vm.Runtime.FeatureMask = req.Mask
		return nil, nil
	})
	return &methods.ApplyEvcModeVM_TaskBody{Res: &types.ApplyEvcModeVM_TaskResponse{Returnval: task.Run()}}
}

// loadable: the save folder without files vcsim 0.24 cannot read (EnvironmentBrowser, a newer
// format), as symbolic links in a temporary folder.
func loadable(dir string) (string, error) {
	tmp, err := ioutil.TempDir("", "cpucompat-vcsim-load-")
	if err != nil {
		return "", err
	}
	entries, err := ioutil.ReadDir(dir)
	if err != nil {
		return "", err
	}
	for _, e := range entries {
		if e.IsDir() || filepath.Ext(e.Name()) != ".xml" || strings.Contains(e.Name(), "-EnvironmentBrowser-") {
			continue
		}
		abs, _ := filepath.Abs(filepath.Join(dir, e.Name()))
		if err := os.Symlink(abs, filepath.Join(tmp, e.Name())); err != nil {
			return "", err
		}
	}
	return tmp, nil
}

// selfSigned: a P-256 certificate for 127.0.0.1 (httptest's built-in one is RSA-1024, which
// OpenSSL refuses as too weak even when trusted explicitly).
func selfSigned() tls.Certificate {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		log.Fatal(err)
	}
	template := x509.Certificate{
		SerialNumber:          big.NewInt(time.Now().UnixNano()),
		Subject:               pkix.Name{CommonName: "127.0.0.1", Organization: []string{"cpucompat vcsim"}},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
		IPAddresses:           []net.IP{net.ParseIP("127.0.0.1")},
	}
	der, err := x509.CreateCertificate(rand.Reader, &template, &template, &key.PublicKey, key)
	if err != nil {
		log.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

func main() {
	listen := flag.String("listen", "127.0.0.1:0", "loopback address to serve on")
	load := flag.String("load", "", "govc object.save folder to serve instead of a generated model")
	clusters := flag.Int("cluster", 1, "clusters")
	clusterHosts := flag.Int("cluster-host", 3, "hosts per cluster")
	hosts := flag.Int("host", 1, "standalone hosts")
	vms := flag.Int("vm", 2, "VMs per host and per cluster")
	datastores := flag.Int("ds", 1, "datastores")
	user := flag.String("user", "user", "user name")
	pass := flag.String("pass", "pass", "password")
	useTLS := flag.Bool("tls", false, "serve https with a self-signed certificate")
	certOut := flag.String("cert-out", "", "with -tls: write the server certificate (PEM) here")
	evcVMs := flag.Bool("evc-vms", false, "VMs accept ApplyEvcModeVM_Task (per-VM EVC)")
	dvsUplinks := flag.Bool("dvs-uplinks", false, "distributed switches keep their host members' uplinks")
	flag.Parse()

	if !strings.HasPrefix(*listen, "127.0.0.1:") {
		log.Fatal("vcsim: -listen must be a 127.0.0.1 address")
	}
	model := simulator.VPX()
	model.Cluster, model.ClusterHost, model.Host = *clusters, *clusterHosts, *hosts
	model.Machine, model.Datastore = *vms, *datastores
	if *evcVMs { // ApplyEvcModeVM_Task is API 6.7: pyVmomi refuses to call it on an older server
		model.ServiceContent.About.ApiVersion = "7.0.3.0" // as vCenter 7.0 U3 says it
	}
	var err error
	if *load != "" {
		dir, lerr := loadable(*load)
		if lerr != nil {
			log.Fatal(lerr)
		}
		defer os.RemoveAll(dir)
		err = model.Load(dir)
	} else {
		err = model.Create()
	}
	if err != nil {
		log.Fatal(err)
	}
	addVnicManagers()
	extendObjects(*evcVMs, *dvsUplinks)
	if *evcVMs { // and every host speaks it too (per-VM EVC needs API 6.7 on the VM's host)
		for _, ref := range simulator.Map.All("HostSystem") {
			host := simulator.Map.Get(ref.Reference()).(*simulator.HostSystem)
			product := *host.Summary.Config.Product
			product.ApiVersion = "7.0.3.0"
			host.Summary.Config.Product = &product
		}
	}
	model.Service.Listen = &url.URL{Host: *listen, User: url.UserPassword(*user, *pass)}
	if *useTLS {
		model.Service.TLS = &tls.Config{Certificates: []tls.Certificate{selfSigned()}}
	}
	server := model.Service.NewServer()
	if *useTLS && *certOut != "" {
		block := &pem.Block{Type: "CERTIFICATE", Bytes: server.Certificate().Raw}
		if err := ioutil.WriteFile(*certOut, pem.EncodeToMemory(block), 0o644); err != nil {
			log.Fatal(err)
		}
	}
	u := *server.URL
	u.User = nil
	fmt.Printf("URL %s\n", u.String())
	os.Stdout.Sync()

	done := make(chan struct{}, 2)
	go func() { io.Copy(ioutil.Discard, os.Stdin); done <- struct{}{} }()
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
	go func() { <-sig; done <- struct{}{} }()
	<-done
	server.Close()
}
