package deploy

import (
	"bytes"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

type k8sMeta struct {
	Name   string            `yaml:"name"`
	Labels map[string]string `yaml:"labels"`
}

type k8sHeader struct {
	APIVersion string  `yaml:"apiVersion"`
	Kind       string  `yaml:"kind"`
	Metadata   k8sMeta `yaml:"metadata"`
}

type k8sSecret struct {
	k8sHeader  `yaml:",inline"`
	StringData map[string]string `yaml:"stringData"`
	Data       map[string]string `yaml:"data"`
}

type k8sService struct {
	k8sHeader `yaml:",inline"`
	Spec      struct {
		ClusterIP string            `yaml:"clusterIP"`
		Selector  map[string]string `yaml:"selector"`
		Ports     []struct {
			Name       string `yaml:"name"`
			Port       int    `yaml:"port"`
			TargetPort any    `yaml:"targetPort"`
		} `yaml:"ports"`
	} `yaml:"spec"`
}

type k8sSecurityContext struct {
	RunAsNonRoot             *bool `yaml:"runAsNonRoot"`
	RunAsUser                *int  `yaml:"runAsUser"`
	FSGroup                  *int  `yaml:"fsGroup"`
	ReadOnlyRootFilesystem   *bool `yaml:"readOnlyRootFilesystem"`
	AllowPrivilegeEscalation *bool `yaml:"allowPrivilegeEscalation"`
	Capabilities             struct {
		Drop []string `yaml:"drop"`
	} `yaml:"capabilities"`
	SeccompProfile struct {
		Type string `yaml:"type"`
	} `yaml:"seccompProfile"`
}

type k8sProbe struct {
	HTTPGet *struct {
		Path string `yaml:"path"`
		Port any    `yaml:"port"`
	} `yaml:"httpGet"`
}

type k8sEnv struct {
	Name      string `yaml:"name"`
	Value     string `yaml:"value"`
	ValueFrom *struct {
		FieldRef *struct {
			FieldPath string `yaml:"fieldPath"`
		} `yaml:"fieldRef"`
		SecretKeyRef *struct {
			Name string `yaml:"name"`
			Key  string `yaml:"key"`
		} `yaml:"secretKeyRef"`
	} `yaml:"valueFrom"`
}

type k8sContainer struct {
	Name    string   `yaml:"name"`
	Image   string   `yaml:"image"`
	Command []string `yaml:"command"`
	Args    []string `yaml:"args"`
	Env     []k8sEnv `yaml:"env"`
	Ports   []struct {
		Name          string `yaml:"name"`
		ContainerPort int    `yaml:"containerPort"`
	} `yaml:"ports"`
	LivenessProbe   *k8sProbe           `yaml:"livenessProbe"`
	ReadinessProbe  *k8sProbe           `yaml:"readinessProbe"`
	SecurityContext *k8sSecurityContext `yaml:"securityContext"`
	VolumeMounts    []struct {
		Name      string `yaml:"name"`
		MountPath string `yaml:"mountPath"`
		ReadOnly  bool   `yaml:"readOnly"`
	} `yaml:"volumeMounts"`
}

type k8sStatefulSet struct {
	k8sHeader `yaml:",inline"`
	Spec      struct {
		ServiceName string `yaml:"serviceName"`
		Replicas    int    `yaml:"replicas"`
		Selector    struct {
			MatchLabels map[string]string `yaml:"matchLabels"`
		} `yaml:"selector"`
		Template struct {
			Metadata k8sMeta `yaml:"metadata"`
			Spec     struct {
				SecurityContext *k8sSecurityContext `yaml:"securityContext"`
				Containers      []k8sContainer      `yaml:"containers"`
				Volumes         []struct {
					Name   string `yaml:"name"`
					Secret *struct {
						SecretName string `yaml:"secretName"`
						Items      []struct {
							Key  string `yaml:"key"`
							Path string `yaml:"path"`
						} `yaml:"items"`
					} `yaml:"secret"`
				} `yaml:"volumes"`
			} `yaml:"spec"`
		} `yaml:"template"`
		VolumeClaimTemplates []struct {
			Metadata k8sMeta `yaml:"metadata"`
		} `yaml:"volumeClaimTemplates"`
	} `yaml:"spec"`
}

type k8sServiceMonitor struct {
	k8sHeader `yaml:",inline"`
	Spec      struct {
		Selector struct {
			MatchLabels map[string]string `yaml:"matchLabels"`
		} `yaml:"selector"`
		JobLabel  string `yaml:"jobLabel"`
		Endpoints []struct {
			Port        string `yaml:"port"`
			Path        string `yaml:"path"`
			Relabelings []struct {
				Action      string `yaml:"action"`
				TargetLabel string `yaml:"targetLabel"`
				Replacement string `yaml:"replacement"`
			} `yaml:"relabelings"`
		} `yaml:"endpoints"`
	} `yaml:"spec"`
}

// k8sManifests are the objects of examples/kubernetes/*.yaml, by kind.
type k8sManifests struct {
	files    []string
	byKind   map[string][]*yaml.Node
	where    map[*yaml.Node]string
	secrets  []k8sSecret
	services []k8sService
	sts      []k8sStatefulSet
	monitors []k8sServiceMonitor
}

func loadKubernetes(t *testing.T) *k8sManifests {
	t.Helper()
	files, err := filepath.Glob(repoPath("examples", "kubernetes", "*.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	m := &k8sManifests{byKind: map[string][]*yaml.Node{}, where: map[*yaml.Node]string{}}
	for _, f := range files {
		m.files = append(m.files, filepath.Base(f))
		for _, doc := range yamlDocs(t, f) {
			var h k8sHeader
			if err := doc.Decode(&h); err != nil {
				t.Fatalf("%s: %v", f, err)
			}
			if h.Kind == "" || h.APIVersion == "" {
				t.Fatalf("%s: a document without kind or apiVersion", f)
			}
			m.byKind[h.Kind] = append(m.byKind[h.Kind], doc)
			m.where[doc] = fmt.Sprintf("%s %s/%s", filepath.Base(f), h.Kind, h.Metadata.Name)
			var into any
			switch h.Kind {
			case "Secret":
				m.secrets = append(m.secrets, k8sSecret{})
				into = &m.secrets[len(m.secrets)-1]
			case "Service":
				m.services = append(m.services, k8sService{})
				into = &m.services[len(m.services)-1]
			case "StatefulSet":
				m.sts = append(m.sts, k8sStatefulSet{})
				into = &m.sts[len(m.sts)-1]
			case "ServiceMonitor":
				m.monitors = append(m.monitors, k8sServiceMonitor{})
				into = &m.monitors[len(m.monitors)-1]
			default:
				continue
			}
			if err := doc.Decode(into); err != nil {
				t.Fatalf("%s: %v", m.where[doc], err)
			}
		}
	}
	for kind, n := range map[string]int{"Secret": len(m.secrets), "Service": len(m.services), "StatefulSet": len(m.sts), "ServiceMonitor": len(m.monitors)} {
		if n != 1 {
			t.Fatalf("examples/kubernetes: %d %s objects, want 1", n, kind)
		}
	}
	return m
}

func (m *k8sManifests) secretKeys(name string) []string {
	for _, s := range m.secrets {
		if s.Metadata.Name == name {
			return append(sortedKeys(s.StringData), sortedKeys(s.Data)...)
		}
	}
	return nil
}

// subset reports whether every label of sel is in labels.
func subset(sel, labels map[string]string) bool {
	if len(sel) == 0 {
		return false
	}
	for k, v := range sel {
		if labels[k] != v {
			return false
		}
	}
	return true
}

func TestKubernetesStatefulSet(t *testing.T) {
	t.Parallel()
	needBinary(t)
	m := loadKubernetes(t)
	sts := m.sts[0]
	spec := sts.Spec.Template.Spec
	if len(spec.Containers) != 1 {
		t.Fatalf("StatefulSet %s: %d containers, want 1", sts.Metadata.Name, len(spec.Containers))
	}
	c := spec.Containers[0]
	where := "StatefulSet " + sts.Metadata.Name + " container " + c.Name

	if !subset(sts.Spec.Selector.MatchLabels, sts.Spec.Template.Metadata.Labels) {
		t.Errorf("%s: selector %v does not match the pod labels %v", where, sts.Spec.Selector.MatchLabels, sts.Spec.Template.Metadata.Labels)
	}
	if sts.Spec.ServiceName != m.services[0].Metadata.Name {
		t.Errorf("%s: serviceName %s, want the Service %s", where, sts.Spec.ServiceName, m.services[0].Metadata.Name)
	}

	// Flags and environment.
	values := checkArgs(t, where, append(c.Command, c.Args...))
	substituted := map[string]bool{}
	for _, a := range append(c.Command, c.Args...) {
		for _, sm := range varSubstRe.FindAllStringSubmatch(a, -1) {
			substituted[sm[1]] = true
		}
	}
	var names []string
	envs := map[string]k8sEnv{}
	for _, e := range c.Env {
		names = append(names, e.Name)
		envs[e.Name] = e
		if e.ValueFrom != nil && e.ValueFrom.SecretKeyRef != nil {
			ref := e.ValueFrom.SecretKeyRef
			if !slices.Contains(m.secretKeys(ref.Name), ref.Key) {
				t.Errorf("%s: env %s takes key %q of Secret %s, which has no such key", where, e.Name, ref.Key, ref.Name)
			}
		}
	}
	// Variables only used for $(NAME) in the arguments need not be read by the binary.
	checkEnvNames(t, where, names, substituted)
	for name := range substituted {
		if _, ok := envs[name]; !ok {
			t.Errorf("%s: the arguments use $(%s), but no env sets it", where, name)
		}
	}

	// Sharding: one pod per shard, the shard being the pod ordinal.
	total, err := strconv.Atoi(values["total-shards"])
	if err != nil {
		t.Errorf("%s: --total-shards=%q: %v", where, values["total-shards"], err)
	} else if total != sts.Spec.Replicas {
		t.Errorf("%s: --total-shards=%d but replicas: %d; they must be equal", where, total, sts.Spec.Replicas)
	}
	// One exporter is enough for almost every account, and every shard
	// sweeps the hosts report: the example runs one; sharded/ shows more.
	if sts.Spec.Replicas != 1 {
		t.Errorf("%s: replicas: %d, want 1 (sharding is the sharded/ component)", where, sts.Spec.Replicas)
	}
	shard := values["shard"]
	sm := varSubstRe.FindStringSubmatch(shard)
	if sm == nil || sm[0] != shard {
		t.Errorf("%s: --shard=%q: want $(VAR) set from the pod index", where, shard)
	} else if e := envs[sm[1]]; e.ValueFrom == nil || e.ValueFrom.FieldRef == nil ||
		e.ValueFrom.FieldRef.FieldPath != "metadata.labels['apps.kubernetes.io/pod-index']" {
		t.Errorf("%s: env %s: want valueFrom.fieldRef.fieldPath metadata.labels['apps.kubernetes.io/pod-index']", where, sm[1])
	}

	// The store is on the volume claim template.
	mounts := map[string]string{} // mountPath -> volume name
	for _, vm := range c.VolumeMounts {
		mounts[path.Clean(vm.MountPath)] = vm.Name
	}
	storage, ok := values["storage.path"]
	if !ok {
		t.Errorf("%s: no --storage.path", where)
	} else {
		vol := mounts[path.Clean(storage)]
		claimed := false
		for _, vct := range sts.Spec.VolumeClaimTemplates {
			claimed = claimed || (vct.Metadata.Name == vol && vol != "")
		}
		if !claimed {
			t.Errorf("%s: --storage.path=%s is not a volume from volumeClaimTemplates (mounts %v)", where, storage, mounts)
		}
	}

	// The client secret file is a key of the Secret, mounted where the flag says.
	if file, ok := values["zoom.client-secret-file"]; ok {
		dir, base := path.Split(path.Clean(file))
		vol := mounts[path.Clean(dir)]
		found := false
		for _, v := range spec.Volumes {
			if v.Name != vol || v.Secret == nil {
				continue
			}
			keys := m.secretKeys(v.Secret.SecretName)
			if len(v.Secret.Items) == 0 {
				found = slices.Contains(keys, base)
			}
			for _, it := range v.Secret.Items {
				if it.Path == base {
					found = slices.Contains(keys, it.Key)
				}
			}
		}
		if !found {
			t.Errorf("%s: --zoom.client-secret-file=%s is not a key of a mounted Secret", where, file)
		}
	}
	for _, env := range []string{"ZOOM_ACCOUNT_ID", "ZOOM_CLIENT_ID"} {
		if e, ok := envs[env]; !ok || e.ValueFrom == nil || e.ValueFrom.SecretKeyRef == nil {
			t.Errorf("%s: %s should come from the Secret", where, env)
		}
	}

	// Port and probes.
	ports := map[string]int{}
	for _, p := range c.Ports {
		ports[p.Name] = p.ContainerPort
	}
	if _, set := values["web.listen-address"]; !set && !slices.Contains(sortedValues(ports), cli.listenPort) {
		t.Errorf("%s: container ports %v do not include the exporter's port %s", where, ports, cli.listenPort)
	}
	for _, probe := range []struct {
		name string
		p    *k8sProbe
		path string
	}{{"livenessProbe", c.LivenessProbe, "/-/healthy"}, {"readinessProbe", c.ReadinessProbe, "/-/ready"}} {
		if probe.p == nil || probe.p.HTTPGet == nil {
			t.Errorf("%s: no %s.httpGet", where, probe.name)
			continue
		}
		if probe.p.HTTPGet.Path != probe.path {
			t.Errorf("%s: %s path %s, want %s", where, probe.name, probe.p.HTTPGet.Path, probe.path)
		}
		if port := resolvePort(probe.p.HTTPGet.Port, ports); port != cli.listenPort {
			t.Errorf("%s: %s port %v is %s, want the exporter's port %s", where, probe.name, probe.p.HTTPGet.Port, port, cli.listenPort)
		}
	}

	// Security context.
	pod, ctr := spec.SecurityContext, c.SecurityContext
	if pod == nil || ctr == nil {
		t.Fatalf("%s: want a pod and a container securityContext", where)
	}
	isTrue := func(b *bool) bool { return b != nil && *b }
	isFalse := func(b *bool) bool { return b != nil && !*b }
	if !isTrue(pod.RunAsNonRoot) && !isTrue(ctr.RunAsNonRoot) {
		t.Errorf("%s: want runAsNonRoot: true", where)
	}
	if pod.RunAsUser == nil || strconv.Itoa(*pod.RunAsUser) != dockerUID {
		t.Errorf("%s: want runAsUser: %s, the image's user", where, dockerUID)
	}
	if pod.FSGroup == nil {
		t.Errorf("%s: want an fsGroup, so the volume is writable by the user", where)
	}
	if !isTrue(ctr.ReadOnlyRootFilesystem) {
		t.Errorf("%s: want readOnlyRootFilesystem: true", where)
	}
	if !isFalse(ctr.AllowPrivilegeEscalation) {
		t.Errorf("%s: want allowPrivilegeEscalation: false", where)
	}
	if !slices.Contains(ctr.Capabilities.Drop, "ALL") {
		t.Errorf("%s: want capabilities.drop: [ALL]", where)
	}
	if pod.SeccompProfile.Type != "RuntimeDefault" && ctr.SeccompProfile.Type != "RuntimeDefault" {
		t.Errorf("%s: want seccompProfile.type: RuntimeDefault", where)
	}
}

// kubernetesHTTPPaths returns the paths the probes and the ServiceMonitor
// request from the exporter.
func kubernetesHTTPPaths(t *testing.T) []string {
	t.Helper()
	m := loadKubernetes(t)
	var paths []string
	for _, c := range m.sts[0].Spec.Template.Spec.Containers {
		for _, p := range []*k8sProbe{c.LivenessProbe, c.ReadinessProbe} {
			if p != nil && p.HTTPGet != nil {
				paths = append(paths, p.HTTPGet.Path)
			}
		}
	}
	for _, ep := range m.monitors[0].Spec.Endpoints {
		if ep.Path != "" {
			paths = append(paths, ep.Path)
		}
	}
	if len(paths) < 3 {
		t.Fatalf("examples/kubernetes: want liveness and readiness probe paths and a ServiceMonitor path, got %v", paths)
	}
	return paths
}

func sortedValues(m map[string]int) []string {
	var out []string
	for _, v := range m {
		out = append(out, strconv.Itoa(v))
	}
	slices.Sort(out)
	return out
}

// resolvePort turns a probe or Service port (a number or a container port
// name) into a port number.
func resolvePort(p any, named map[string]int) string {
	switch v := p.(type) {
	case int:
		return strconv.Itoa(v)
	case string:
		if n, ok := named[v]; ok {
			return strconv.Itoa(n)
		}
		return v
	}
	return fmt.Sprint(p)
}

func TestKubernetesServiceAndMonitor(t *testing.T) {
	t.Parallel()
	needBinary(t)
	m := loadKubernetes(t)
	svc, sts, mon := m.services[0], m.sts[0], m.monitors[0]
	c := sts.Spec.Template.Spec.Containers[0]
	ports := map[string]int{}
	for _, p := range c.Ports {
		ports[p.Name] = p.ContainerPort
	}
	if !subset(svc.Spec.Selector, sts.Spec.Template.Metadata.Labels) {
		t.Errorf("Service %s: selector %v does not select the StatefulSet's pods %v", svc.Metadata.Name, svc.Spec.Selector, sts.Spec.Template.Metadata.Labels)
	}
	svcPorts := map[string]bool{}
	for _, p := range svc.Spec.Ports {
		svcPorts[p.Name] = true
		if got := resolvePort(p.TargetPort, ports); got != cli.listenPort {
			t.Errorf("Service %s port %s: targetPort %v is %s, want the exporter's port %s", svc.Metadata.Name, p.Name, p.TargetPort, got, cli.listenPort)
		}
	}
	if !subset(mon.Spec.Selector.MatchLabels, svc.Metadata.Labels) {
		t.Errorf("ServiceMonitor %s: selector %v does not select Service %s (labels %v)", mon.Metadata.Name, mon.Spec.Selector.MatchLabels, svc.Metadata.Name, svc.Metadata.Labels)
	}
	if len(mon.Spec.Endpoints) == 0 {
		t.Fatalf("ServiceMonitor %s: no endpoints", mon.Metadata.Name)
	}
	for _, ep := range mon.Spec.Endpoints {
		if !svcPorts[ep.Port] {
			t.Errorf("ServiceMonitor %s: port %q is not a port name of Service %s", mon.Metadata.Name, ep.Port, svc.Metadata.Name)
		}
		if ep.Path != "" && ep.Path != cli.metricsPath {
			t.Errorf("ServiceMonitor %s: path %s, the exporter serves %s", mon.Metadata.Name, ep.Path, cli.metricsPath)
		}
		// The job label: the Service name, unless jobLabel or a relabeling sets it.
		job := svc.Metadata.Name
		if mon.Spec.JobLabel != "" {
			job = svc.Metadata.Labels[mon.Spec.JobLabel]
		}
		for _, r := range ep.Relabelings {
			if r.TargetLabel == "job" && (r.Action == "" || r.Action == "replace") && !strings.Contains(r.Replacement, "$") {
				job = r.Replacement
			}
		}
		for _, want := range exampleJobNames(t) {
			if job != want {
				t.Errorf("ServiceMonitor %s: the exporter is scraped as job %q, but examples/prometheus/ uses job %q", mon.Metadata.Name, job, want)
			}
		}
	}
}

var jobMatcherRe = regexp.MustCompile(`\bjob\s*=~?\s*"([^"]+)"`)

// exampleJobNames returns the job names examples/prometheus/ expects the
// exporter under: those its rules match on, and the job of its
// prometheus.yml that scrapes the exporter's port.
func exampleJobNames(t *testing.T) []string {
	t.Helper()
	names := map[string]bool{}
	files, _ := filepath.Glob(repoPath("examples", "prometheus", "*.yml"))
	for _, f := range files {
		if strings.HasSuffix(f, "_test.yml") {
			continue
		}
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if filepath.Base(f) == "prometheus.yml" {
			var cfg prometheusConfig
			decodeYAMLFile(t, f, &cfg)
			for _, sc := range cfg.ScrapeConfigs {
				for _, st := range sc.StaticConfigs {
					for _, target := range st.Targets {
						if strings.HasSuffix(target, ":"+cli.listenPort) {
							names[sc.JobName] = true
						}
					}
				}
			}
			continue
		}
		for _, line := range strings.Split(string(data), "\n") {
			if strings.HasPrefix(strings.TrimSpace(line), "#") {
				continue
			}
			for _, m := range jobMatcherRe.FindAllStringSubmatch(line, -1) {
				names[m[1]] = true
			}
		}
	}
	return sortedKeys(names)
}

// TestKubernetesKustomization: kubectl apply -k applies every manifest.
func TestKubernetesKustomization(t *testing.T) {
	t.Parallel()
	m := loadKubernetes(t)
	var k struct {
		Resources []string `yaml:"resources"`
	}
	decodeYAMLFile(t, repoPath("examples", "kubernetes", "kustomization.yaml"), &k)
	var want []string
	for _, f := range m.files {
		if f != "kustomization.yaml" {
			want = append(want, f)
		}
	}
	got := slices.Clone(k.Resources)
	slices.Sort(got)
	if !slices.Equal(got, want) {
		t.Errorf("kustomization.yaml resources %v, want every manifest %v", k.Resources, want)
	}
}

// TestKubernetesApplyK: the manifests and the README tell to apply the
// folder with -k; kubectl apply -f fails on kustomization.yaml, which is not
// a Kubernetes object.
func TestKubernetesApplyK(t *testing.T) {
	t.Parallel()
	applyF := regexp.MustCompile(`kubectl\s+apply\s+(-R\s+)?(-f|--filename)[=\s]+\S*examples/kubernetes`)
	files := []string{repoPath("README.md")}
	err := filepath.WalkDir(repoPath("examples", "kubernetes"), func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			files = append(files, p)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for i, line := range strings.Split(string(data), "\n") {
			if m := applyF.FindString(line); m != "" {
				t.Errorf("%s:%d: %q fails on kustomization.yaml; say kubectl apply -k examples/kubernetes/", f, i+1, m)
			}
		}
	}
}

// jsonPointer splits an RFC 6901 JSON pointer into its reference tokens.
func jsonPointer(p string) ([]string, error) {
	if !strings.HasPrefix(p, "/") {
		return nil, fmt.Errorf("JSON pointer %q does not start with /", p)
	}
	toks := strings.Split(p[1:], "/")
	for i, tok := range toks {
		toks[i] = strings.ReplaceAll(strings.ReplaceAll(tok, "~1", "/"), "~0", "~")
	}
	return toks, nil
}

// jsonPatch applies the test and replace operations of an RFC 6902 patch to
// doc (decoded YAML), as kustomize does; other operations are refused.
func jsonPatch(doc any, ops []map[string]any) error {
	for _, op := range ops {
		path, _ := op["path"].(string)
		toks, err := jsonPointer(path)
		if err != nil {
			return err
		}
		// Walk to the parent of the last token.
		parent := doc
		for _, tok := range toks[:len(toks)-1] {
			if parent, err = jsonChild(parent, tok); err != nil {
				return fmt.Errorf("%s %s: %v", op["op"], path, err)
			}
		}
		last := toks[len(toks)-1]
		cur, err := jsonChild(parent, last)
		if err != nil {
			return fmt.Errorf("%s %s: %v", op["op"], path, err)
		}
		switch op["op"] {
		case "test":
			if !reflect.DeepEqual(cur, op["value"]) {
				return fmt.Errorf("test %s: the value is %v, the patch expects %v", path, cur, op["value"])
			}
		case "replace":
			switch p := parent.(type) {
			case map[string]any:
				p[last] = op["value"]
			case []any:
				i, _ := strconv.Atoi(last)
				p[i] = op["value"]
			}
		default:
			return fmt.Errorf("op %v %s: this test applies only test and replace", op["op"], path)
		}
	}
	return nil
}

func jsonChild(v any, tok string) (any, error) {
	switch n := v.(type) {
	case map[string]any:
		c, ok := n[tok]
		if !ok {
			return nil, fmt.Errorf("no key %q", tok)
		}
		return c, nil
	case []any:
		i, err := strconv.Atoi(tok)
		if err != nil || i < 0 || i >= len(n) {
			return nil, fmt.Errorf("no index %q in a list of %d", tok, len(n))
		}
		return n[i], nil
	}
	return nil, fmt.Errorf("%q: not an object or a list", tok)
}

// TestKubernetesShardedComponent: the documented sharding variant (the
// sharded/ component, commented out in kustomization.yaml) applies to the
// StatefulSet and gives pods and shards that agree, with nothing else
// changed.
func TestKubernetesShardedComponent(t *testing.T) {
	t.Parallel()
	needBinary(t)
	m := loadKubernetes(t)

	// kustomization.yaml names the component in a commented-out block that,
	// uncommented, is valid.
	kpath := repoPath("examples", "kubernetes", "kustomization.yaml")
	data, err := os.ReadFile(kpath)
	if err != nil {
		t.Fatal(err)
	}
	var uncommented []string
	for _, line := range strings.Split(string(data), "\n") {
		if rest, ok := strings.CutPrefix(line, "# "); ok && (strings.HasPrefix(rest, "components:") || strings.HasPrefix(strings.TrimSpace(rest), "- ")) {
			line = rest
		}
		uncommented = append(uncommented, line)
	}
	var k struct {
		Components []string `yaml:"components"`
	}
	if err := yaml.Unmarshal([]byte(strings.Join(uncommented, "\n")), &k); err != nil {
		t.Fatalf("%s with the components block uncommented: %v", kpath, err)
	}
	if len(k.Components) != 1 {
		t.Fatalf("%s: want one commented-out component (the sharding variant), got %v", kpath, k.Components)
	}
	dir := path.Clean(k.Components[0])

	var comp struct {
		APIVersion string `yaml:"apiVersion"`
		Kind       string `yaml:"kind"`
		Patches    []struct {
			Target struct {
				Group, Version, Kind, Name string
			} `yaml:"target"`
			Patch string `yaml:"patch"`
		} `yaml:"patches"`
	}
	cpath := repoPath("examples", "kubernetes", dir, "kustomization.yaml")
	decodeYAMLFile(t, cpath, &comp)
	if comp.APIVersion != "kustomize.config.k8s.io/v1alpha1" || comp.Kind != "Component" {
		t.Fatalf("%s: %s %s, want a kustomize.config.k8s.io/v1alpha1 Component", cpath, comp.APIVersion, comp.Kind)
	}
	base := m.sts[0]
	var sts any
	if err := m.byKind["StatefulSet"][0].Decode(&sts); err != nil {
		t.Fatal(err)
	}
	patched := 0
	for _, p := range comp.Patches {
		tg := p.Target
		if tg.Kind != "StatefulSet" || tg.Name != base.Metadata.Name || (tg.Group != "" && tg.Group != "apps") {
			t.Fatalf("%s: a patch for %s %s; want only patches of StatefulSet %s", cpath, tg.Kind, tg.Name, base.Metadata.Name)
		}
		var ops []map[string]any
		if err := yaml.Unmarshal([]byte(p.Patch), &ops); err != nil {
			t.Fatalf("%s: patch: %v", cpath, err)
		}
		if err := jsonPatch(sts, ops); err != nil {
			t.Fatalf("%s: %v", cpath, err)
		}
		patched++
	}
	if patched == 0 {
		t.Fatalf("%s: no patches", cpath)
	}

	raw, err := yaml.Marshal(sts)
	if err != nil {
		t.Fatal(err)
	}
	var sharded k8sStatefulSet
	if err := yaml.Unmarshal(raw, &sharded); err != nil {
		t.Fatal(err)
	}
	where := cpath + " applied to StatefulSet " + base.Metadata.Name
	args := sharded.Spec.Template.Spec.Containers[0].Args
	values := checkArgs(t, where, args)
	total, err := strconv.Atoi(values["total-shards"])
	if err != nil {
		t.Fatalf("%s: --total-shards=%q: %v", where, values["total-shards"], err)
	}
	if total < 2 || total != sharded.Spec.Replicas {
		t.Errorf("%s: replicas: %d and --total-shards=%d; want them equal and above 1", where, sharded.Spec.Replicas, total)
	}
	// Nothing but the shard count changes.
	baseArgs := base.Spec.Template.Spec.Containers[0].Args
	if len(args) != len(baseArgs) {
		t.Fatalf("%s: args %v, the base's %v", where, args, baseArgs)
	}
	for i := range args {
		if args[i] != baseArgs[i] && !strings.HasPrefix(args[i], "--total-shards=") {
			t.Errorf("%s: argument %d is %q, the base's %q: want only --total-shards changed", where, i, args[i], baseArgs[i])
		}
	}
	sharded.Spec.Replicas = base.Spec.Replicas
	sharded.Spec.Template.Spec.Containers[0].Args = baseArgs
	if !reflect.DeepEqual(sharded, base) {
		t.Errorf("%s: changes more than replicas and --total-shards", where)
	}
}

// promRuleSources are the rule files of examples/prometheus/ that
// examples/kubernetes/prometheusrule.yaml carries, by PrometheusRule name.
// alerts.yml must exist; rules.yml is carried when it does.
var promRuleSources = []struct {
	name, file string
	required   bool
}{
	{"zoom-exporter-alerts", "alerts.yml", true},
	{"zoom-exporter-rules", "rules.yml", false},
}

const promRuleHeader = `# Generated from examples/prometheus/%s by
#   go test ./deploy -run TestKubernetesPrometheusRule -update
# Do not edit: change examples/prometheus/ and regenerate. The Prometheus
# Operator loads these when its ruleSelector matches their labels (for
# kube-prometheus-stack, add the label release: <your release name>).
`

// generatePrometheusRule builds prometheusrule.yaml from the rule files.
func generatePrometheusRule(t *testing.T) []byte {
	t.Helper()
	var out bytes.Buffer
	var used []string
	for _, src := range promRuleSources {
		p := repoPath("examples", "prometheus", src.file)
		if _, err := os.Stat(p); err != nil && !src.required {
			continue
		}
		used = append(used, src.file)
		docs := yamlDocs(t, p)
		if len(docs) != 1 {
			t.Fatalf("%s: %d documents, want 1", p, len(docs))
		}
		groups := mappingValue(docs[0].Content[0], "groups")
		if groups == nil {
			t.Fatalf("%s: no groups", p)
		}
		obj := map[string]any{
			"apiVersion": "monitoring.coreos.com/v1",
			"kind":       "PrometheusRule",
			"metadata": map[string]any{
				"name":   src.name,
				"labels": map[string]string{"app.kubernetes.io/name": "zoom-exporter"},
			},
		}
		var node yaml.Node
		if err := node.Encode(obj); err != nil {
			t.Fatal(err)
		}
		// spec.groups is the source's node itself: order, block scalars
		// and comments are kept.
		spec := &yaml.Node{Kind: yaml.MappingNode, Content: []*yaml.Node{
			{Kind: yaml.ScalarNode, Value: "groups"}, groups,
		}}
		node.Content = append(node.Content, &yaml.Node{Kind: yaml.ScalarNode, Value: "spec"}, spec)
		if out.Len() > 0 {
			out.WriteString("---\n")
		}
		enc := yaml.NewEncoder(&out)
		enc.SetIndent(2)
		if err := enc.Encode(&node); err != nil {
			t.Fatal(err)
		}
		enc.Close()
	}
	return append([]byte(fmt.Sprintf(promRuleHeader, strings.Join(used, " and "))), out.Bytes()...)
}

func mappingValue(n *yaml.Node, key string) *yaml.Node {
	if n == nil || n.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == key {
			return n.Content[i+1]
		}
	}
	return nil
}

// TestKubernetesPrometheusRule: the PrometheusRule objects carry exactly the
// groups of examples/prometheus/alerts.yml (and rules.yml).
func TestKubernetesPrometheusRule(t *testing.T) {
	target := repoPath("examples", "kubernetes", "prometheusrule.yaml")
	if *update {
		if err := os.WriteFile(target, generatePrometheusRule(t), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	rules := map[string]any{} // name -> spec.groups
	for _, doc := range yamlDocs(t, target) {
		var obj struct {
			k8sHeader `yaml:",inline"`
			Spec      struct {
				Groups any `yaml:"groups"`
			} `yaml:"spec"`
		}
		if err := doc.Decode(&obj); err != nil {
			t.Fatal(err)
		}
		if obj.Kind != "PrometheusRule" || obj.APIVersion != "monitoring.coreos.com/v1" {
			t.Errorf("%s: %s %s, want monitoring.coreos.com/v1 PrometheusRule", target, obj.APIVersion, obj.Kind)
		}
		rules[obj.Metadata.Name] = obj.Spec.Groups
	}
	for _, src := range promRuleSources {
		p := repoPath("examples", "prometheus", src.file)
		if _, err := os.Stat(p); err != nil {
			if src.required {
				t.Errorf("%v: the PrometheusRule %s is generated from it", err, src.name)
			}
			continue
		}
		var file struct {
			Groups any `yaml:"groups"`
		}
		decodeYAMLFile(t, p, &file)
		got, ok := rules[src.name]
		if !ok {
			t.Errorf("%s: no PrometheusRule %s for examples/prometheus/%s; run go test ./deploy -run TestKubernetesPrometheusRule -update", target, src.name, src.file)
			continue
		}
		if !reflect.DeepEqual(got, file.Groups) {
			t.Errorf("%s: PrometheusRule %s differs from examples/prometheus/%s; run go test ./deploy -run TestKubernetesPrometheusRule -update", target, src.name, src.file)
		}
		delete(rules, src.name)
	}
	for name := range rules {
		t.Errorf("%s: PrometheusRule %s has no source in examples/prometheus/", target, name)
	}
}
