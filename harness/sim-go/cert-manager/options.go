package main

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"time"

	configv1alpha1 "github.com/cert-manager/cert-manager/pkg/apis/config/controller/v1alpha1"
	sharedv1alpha1 "github.com/cert-manager/cert-manager/pkg/apis/config/shared/v1alpha1"
	logf "github.com/cert-manager/cert-manager/pkg/logs"
	utilfeature "github.com/cert-manager/cert-manager/pkg/util/feature"
	"github.com/spf13/pflag"
	cliflag "k8s.io/component-base/cli/flag"
	logsapi "k8s.io/component-base/logs/api/v1"
	"sigs.k8s.io/yaml"

	// Registers cert-manager's controller feature gates (--feature-gates).
	_ "github.com/cert-manager/cert-manager/internal/controller/feature"
)

// errHelp: --help was asked for (usage already printed).
var errHelp = errors.New("help requested")

// The config file's type, as the chart's ConfigMap writes it.
const (
	configAPIVersion = "controller.config.cert-manager.io/v1alpha1"
	configKind       = "ControllerConfiguration"
)

// options is the controller's configuration: cert-manager's public v1alpha1 config type, so the
// --config file decodes straight into it, with every pointer set so flags can bind to it.
type options struct {
	cfg *configv1alpha1.ControllerConfiguration
}

func boolp(b bool) *bool          { return &b }
func int32p(i int32) *int32       { return &i }
func float32p(f float32) *float32 { return &f }
func dur(d time.Duration) *sharedv1alpha1.Duration {
	return sharedv1alpha1.DurationFromTime(d)
}

// defaultConfig: the defaults cert-manager's controller applies (its v1alpha1 defaulting), so a
// Deployment that passes no flag behaves here as there.
func defaultConfig(appVersion string) *configv1alpha1.ControllerConfiguration {
	c := &configv1alpha1.ControllerConfiguration{
		KubernetesAPIQPS:         float32p(20),
		KubernetesAPIBurst:       int32p(50),
		ClusterResourceNamespace: "kube-system",
		LeaderElectionConfig: configv1alpha1.LeaderElectionConfig{
			LeaderElectionConfig: sharedv1alpha1.LeaderElectionConfig{
				Enabled:       boolp(true),
				Namespace:     "kube-system",
				LeaseDuration: dur(60 * time.Second),
				RenewDeadline: dur(40 * time.Second),
				RetryPeriod:   dur(15 * time.Second),
			},
			HealthzTimeout: dur(20 * time.Second),
		},
		Controllers:                     []string{"*"},
		IssuerAmbientCredentials:        boolp(false),
		ClusterIssuerAmbientCredentials: boolp(true),
		EnableCertificateOwnerRef:       boolp(false),
		CopiedAnnotationPrefixes:        []string{"*", "-kubectl.kubernetes.io/", "-fluxcd.io/", "-argocd.argoproj.io/"},
		NumberOfConcurrentWorkers:       int32p(5),
		MaxConcurrentChallenges:         int32p(60),
		MetricsListenAddress:            "0.0.0.0:9402",
		MetricsTLSConfig: sharedv1alpha1.TLSConfig{
			Dynamic: sharedv1alpha1.DynamicServingConfig{LeafDuration: dur(7 * 24 * time.Hour)},
		},
		HealthzListenAddress: "0.0.0.0:9403",
		EnablePprof:          boolp(false),
		PprofAddress:         "localhost:6060",
		FeatureGates:         map[string]bool{},
		IngressShimConfig: configv1alpha1.IngressShimConfig{
			DefaultIssuerKind:                 "Issuer",
			DefaultIssuerGroup:                "cert-manager.io",
			DefaultAutoCertificateAnnotations: []string{"kubernetes.io/tls-acme"},
			ExtraCertificateAnnotations:       []string{},
		},
		ACMEHTTP01Config: configv1alpha1.ACMEHTTP01Config{
			SolverImage:                 "quay.io/jetstack/cert-manager-acmesolver:" + appVersion,
			SolverResourceRequestCPU:    "10m",
			SolverResourceRequestMemory: "64Mi",
			SolverResourceLimitsCPU:     "100m",
			SolverResourceLimitsMemory:  "64Mi",
			SolverRunAsNonRoot:          boolp(true),
			SolverNameservers:           []string{},
			SolverExtraLabels:           map[string]string{},
		},
		ACMEDNS01Config: configv1alpha1.ACMEDNS01Config{
			RecursiveNameservers:     []string{},
			RecursiveNameserversOnly: boolp(false),
			CheckRetryPeriod:         dur(10 * time.Second),
		},
		PEMSizeLimitsConfig: configv1alpha1.PEMSizeLimitsConfig{
			MaxCertificateSize: int32p(36500),
			MaxPrivateKeySize:  int32p(13000),
			MaxChainLength:     int32p(95000),
			MaxBundleSize:      int32p(330000),
		},
		GatewayAPIConfig: configv1alpha1.GatewayAPIConfig{
			Enabled:           boolp(false),
			EnableListenerSet: boolp(false),
			ExtraProtocols:    []string{},
		},
		CertificateRequestMinimumBackoffDuration: dur(time.Hour),
		CertificateRequestMaximumBackoffDuration: dur(32 * time.Hour),
	}
	logsapi.SetRecommendedLoggingConfiguration(&c.Logging)
	return c
}

// flagSet binds the real controller's flag names to cfg (help texts are ours and short).
func flagSet(c *configv1alpha1.ControllerConfiguration, configPath *string) *pflag.FlagSet {
	fs := pflag.NewFlagSet("cert-manager-controller", pflag.ContinueOnError)
	le := &c.LeaderElectionConfig
	h01 := &c.ACMEHTTP01Config
	dns := &c.ACMEDNS01Config
	shim := &c.IngressShimConfig
	tlsc := &c.MetricsTLSConfig
	pem := &c.PEMSizeLimitsConfig

	fs.StringVar(configPath, "config", *configPath, "file holding a ControllerConfiguration ("+configAPIVersion+"); flags override it")
	fs.StringVar(&c.APIServerHost, "master", c.APIServerHost, "API server address (overrides the kubeconfig's)")
	fs.StringVar(&c.KubeConfig, "kubeconfig", c.KubeConfig, "kubeconfig to use out of cluster")
	fs.Float32Var(c.KubernetesAPIQPS, "kube-api-qps", *c.KubernetesAPIQPS, "client QPS when API Priority and Fairness is off")
	fs.Int32Var(c.KubernetesAPIBurst, "kube-api-burst", *c.KubernetesAPIBurst, "client burst when API Priority and Fairness is off")
	fs.StringVar(&c.ClusterResourceNamespace, "cluster-resource-namespace", c.ClusterResourceNamespace, "namespace of the Secrets ClusterIssuers refer to")
	fs.StringVar(&c.Namespace, "namespace", c.Namespace, "watch only this namespace (cluster-scoped controllers off)")
	fs.BoolVar(le.Enabled, "leader-elect", *le.Enabled, "elect a leader among instances before running controllers")
	fs.StringVar(&le.Namespace, "leader-election-namespace", le.Namespace, "namespace of the leader election Lease")
	fs.DurationVar(&le.LeaseDuration.Duration.Duration, "leader-election-lease-duration", le.LeaseDuration.Duration.Duration, "leader election lease duration")
	fs.DurationVar(&le.RenewDeadline.Duration.Duration, "leader-election-renew-deadline", le.RenewDeadline.Duration.Duration, "leader election renew deadline")
	fs.DurationVar(&le.RetryPeriod.Duration.Duration, "leader-election-retry-period", le.RetryPeriod.Duration.Duration, "leader election retry period")
	fs.StringSliceVar(&c.Controllers, "controllers", c.Controllers, "controllers to run: '*' the defaults, 'name' one more, '-name' one less")

	fs.StringVar(&h01.SolverImage, "acme-http01-solver-image", h01.SolverImage, "ACME HTTP-01 solver image")
	fs.StringVar(&h01.SolverResourceRequestCPU, "acme-http01-solver-resource-request-cpu", h01.SolverResourceRequestCPU, "ACME HTTP-01 solver CPU request")
	fs.StringVar(&h01.SolverResourceRequestMemory, "acme-http01-solver-resource-request-memory", h01.SolverResourceRequestMemory, "ACME HTTP-01 solver memory request")
	fs.StringVar(&h01.SolverResourceLimitsCPU, "acme-http01-solver-resource-limits-cpu", h01.SolverResourceLimitsCPU, "ACME HTTP-01 solver CPU limit")
	fs.StringVar(&h01.SolverResourceLimitsMemory, "acme-http01-solver-resource-limits-memory", h01.SolverResourceLimitsMemory, "ACME HTTP-01 solver memory limit")
	fs.BoolVar(h01.SolverRunAsNonRoot, "acme-http01-solver-run-as-non-root", *h01.SolverRunAsNonRoot, "run ACME HTTP-01 solver pods as non-root")
	fs.StringSliceVar(&h01.SolverNameservers, "acme-http01-solver-nameservers", h01.SolverNameservers, "DNS servers for HTTP-01 self checks (host:port)")
	fs.Var(cliflag.NewMapStringString(&h01.SolverExtraLabels), "acme-http01-solver-extra-labels", "extra labels (key=value) on HTTP-01 solver resources")
	fs.StringVar(&h01.SolverRuntimeClassName, "acme-http01-solver-runtime-class-name", h01.SolverRuntimeClassName, "RuntimeClassName of HTTP-01 solver pods")
	fs.BoolVar(c.ClusterIssuerAmbientCredentials, "cluster-issuer-ambient-credentials", *c.ClusterIssuerAmbientCredentials, "ClusterIssuers may use ambient credentials")
	fs.BoolVar(c.IssuerAmbientCredentials, "issuer-ambient-credentials", *c.IssuerAmbientCredentials, "Issuers may use ambient credentials")

	fs.StringSliceVar(&shim.DefaultAutoCertificateAnnotations, "auto-certificate-annotations", shim.DefaultAutoCertificateAnnotations, "annotations that make ingress-shim request a certificate")
	fs.StringSliceVar(&shim.ExtraCertificateAnnotations, "extra-certificate-annotations", shim.ExtraCertificateAnnotations, "annotations ingress-shim adds to the Certificates it creates")
	fs.StringVar(&shim.DefaultIssuerName, "default-issuer-name", shim.DefaultIssuerName, "issuer ingress-shim uses when an Ingress names none")
	fs.StringVar(&shim.DefaultIssuerKind, "default-issuer-kind", shim.DefaultIssuerKind, "kind of that issuer")
	fs.StringVar(&shim.DefaultIssuerGroup, "default-issuer-group", shim.DefaultIssuerGroup, "group of that issuer")

	fs.StringSliceVar(&dns.RecursiveNameservers, "dns01-recursive-nameservers", dns.RecursiveNameservers, "DNS servers for DNS-01 self checks")
	fs.BoolVar(dns.RecursiveNameserversOnly, "dns01-recursive-nameservers-only", *dns.RecursiveNameserversOnly, "query only those servers for DNS-01 self checks")
	fs.DurationVar(&dns.CheckRetryPeriod.Duration.Duration, "dns01-check-retry-period", dns.CheckRetryPeriod.Duration.Duration, "wait between challenge propagation checks")

	fs.BoolVar(c.EnableCertificateOwnerRef, "enable-certificate-owner-ref", *c.EnableCertificateOwnerRef, "make the Certificate the owner of its Secret")
	fs.BoolVar(c.GatewayAPIConfig.Enabled, "enable-gateway-api", *c.GatewayAPIConfig.Enabled, "enable the Gateway API integration")
	fs.BoolVar(c.GatewayAPIConfig.EnableListenerSet, "enable-gateway-api-listenerset", *c.GatewayAPIConfig.EnableListenerSet, "enable ListenerSet support")
	fs.StringSliceVar(&c.GatewayAPIConfig.ExtraProtocols, "gateway-api-extra-protocols", c.GatewayAPIConfig.ExtraProtocols, "extra Listener protocols treated as TLS")
	fs.StringSliceVar(&c.CopiedAnnotationPrefixes, "copied-annotation-prefixes", c.CopiedAnnotationPrefixes, "annotation prefixes copied to CertificateRequests ('-' excludes)")
	fs.Var(cliflag.NewMapStringBool(&c.FeatureGates), "feature-gates", "feature gates (key=value):\n"+strings.Join(utilfeature.DefaultFeatureGate.KnownFeatures(), "\n"))
	fs.Int32Var(c.NumberOfConcurrentWorkers, "concurrent-workers", *c.NumberOfConcurrentWorkers, "workers per controller")
	fs.Int32Var(c.MaxConcurrentChallenges, "max-concurrent-challenges", *c.MaxConcurrentChallenges, "ACME challenges processed at once")

	fs.StringVar(&c.MetricsListenAddress, "metrics-listen-address", c.MetricsListenAddress, "metrics server address")
	fs.BoolVar(c.EnablePprof, "enable-profiling", *c.EnablePprof, "serve Go's profiler")
	fs.StringVar(&c.PprofAddress, "profiler-address", c.PprofAddress, "profiler address")
	fs.StringVar(&tlsc.Filesystem.CertFile, "metrics-tls-cert-file", tlsc.Filesystem.CertFile, "metrics TLS certificate file")
	fs.StringVar(&tlsc.Filesystem.KeyFile, "metrics-tls-private-key-file", tlsc.Filesystem.KeyFile, "metrics TLS key file")
	fs.DurationVar(&tlsc.Dynamic.LeafDuration.Duration.Duration, "metrics-dynamic-serving-leaf-duration", tlsc.Dynamic.LeafDuration.Duration.Duration, "metrics dynamic serving certificate lifetime")
	fs.StringVar(&tlsc.Dynamic.SecretNamespace, "metrics-dynamic-serving-ca-secret-namespace", tlsc.Dynamic.SecretNamespace, "namespace of the metrics serving CA Secret")
	fs.StringVar(&tlsc.Dynamic.SecretName, "metrics-dynamic-serving-ca-secret-name", tlsc.Dynamic.SecretName, "name of the metrics serving CA Secret")
	fs.StringSliceVar(&tlsc.Dynamic.DNSNames, "metrics-dynamic-serving-dns-names", tlsc.Dynamic.DNSNames, "DNS names of the metrics serving certificate")
	fs.StringSliceVar(&tlsc.CipherSuites, "metrics-tls-cipher-suites", tlsc.CipherSuites, "metrics TLS cipher suites")
	fs.StringVar(&tlsc.MinTLSVersion, "metrics-tls-min-version", tlsc.MinTLSVersion, "metrics minimum TLS version")
	fs.StringVar(&c.HealthzListenAddress, "internal-healthz-listen-address", c.HealthzListenAddress, "healthz (/livez) server address")
	fs.DurationVar(&le.HealthzTimeout.Duration.Duration, "internal-healthz-leader-election-timeout", le.HealthzTimeout.Duration.Duration, "grace after a lost lease before /livez fails")
	_ = fs.MarkHidden("internal-healthz-listen-address")
	_ = fs.MarkHidden("internal-healthz-leader-election-timeout")

	fs.Int32Var(pem.MaxCertificateSize, "max-certificate-size", *pem.MaxCertificateSize, "largest PEM certificate, bytes")
	fs.Int32Var(pem.MaxPrivateKeySize, "max-private-key-size", *pem.MaxPrivateKeySize, "largest PEM private key, bytes")
	fs.Int32Var(pem.MaxChainLength, "max-certificate-chain-length", *pem.MaxChainLength, "largest PEM chain, bytes")
	fs.Int32Var(pem.MaxBundleSize, "max-certificate-bundle-size", *pem.MaxBundleSize, "largest PEM bundle, bytes")
	fs.DurationVar(&c.CertificateRequestMinimumBackoffDuration.Duration.Duration, "certificate-request-minimum-backoff-duration", c.CertificateRequestMinimumBackoffDuration.Duration.Duration, "first back-off after a failed issuance")
	fs.DurationVar(&c.CertificateRequestMaximumBackoffDuration.Duration.Duration, "certificate-request-maximum-backoff-duration", c.CertificateRequestMaximumBackoffDuration.Duration.Duration, "longest back-off after failed issuances")

	logf.AddFlags(&c.Logging, fs)
	// Anything registered on Go's flag package (klog's, if initialised there), as upstream.
	fs.AddGoFlagSet(flag.CommandLine)
	return fs
}

// parseOptions parses args as the real controller does: flags, then the --config file over the
// defaults, then the flags again so they win; then feature gates and logging are applied.
func parseOptions(args []string) (*options, error) {
	cfg := defaultConfig(appVersion())
	var configPath string
	fs := flagSet(cfg, &configPath)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, pflag.ErrHelp) {
			return nil, errHelp
		}
		return nil, err
	}
	if len(fs.Args()) > 0 {
		return nil, fmt.Errorf("unexpected arguments %q (the controller takes flags only)", fs.Args())
	}
	if configPath != "" {
		if err := loadConfigFile(configPath, cfg); err != nil {
			return nil, err
		}
		// A fresh flag set: re-parsing on the first would append to list flags a second time.
		if err := flagSet(cfg, &configPath).Parse(args); err != nil {
			return nil, err
		}
	}
	if err := utilfeature.DefaultMutableFeatureGate.SetFromMap(cfg.FeatureGates); err != nil {
		return nil, fmt.Errorf("--feature-gates: %w", err)
	}
	if err := validate(cfg); err != nil {
		return nil, err
	}
	if err := logf.ValidateAndApply(&cfg.Logging); err != nil {
		return nil, fmt.Errorf("logging flags: %w", err)
	}
	return &options{cfg: cfg}, nil
}

// loadConfigFile decodes a ControllerConfiguration over cfg; unknown fields are an error.
func loadConfigFile(path string, cfg *configv1alpha1.ControllerConfiguration) error {
	abs, err := filepath.Abs(path)
	if err != nil {
		return fmt.Errorf("config file %s: %w", path, err)
	}
	data, err := os.ReadFile(abs)
	if err != nil {
		return fmt.Errorf("config file %s: %w", abs, err)
	}
	if err := yaml.UnmarshalStrict(data, cfg); err != nil {
		return fmt.Errorf("config file %s: %w", abs, err)
	}
	if cfg.APIVersion != configAPIVersion || cfg.Kind != configKind {
		return fmt.Errorf("config file %s: apiVersion %q kind %q, want %s %s", abs, cfg.APIVersion, cfg.Kind, configAPIVersion, configKind)
	}
	// An explicit `null` in the file leaves a pointer nil: that field keeps its default.
	fillNil(reflect.ValueOf(cfg).Elem(), reflect.ValueOf(defaultConfig(appVersion())).Elem())
	return nil
}

// fillNil sets every nil pointer, map or slice reachable through structs in v to its
// counterpart in def.
func fillNil(v, def reflect.Value) {
	for i := 0; i < v.NumField(); i++ {
		f, d := v.Field(i), def.Field(i)
		if !f.CanSet() {
			continue
		}
		switch f.Kind() {
		case reflect.Pointer, reflect.Map, reflect.Slice:
			if f.IsNil() {
				f.Set(d)
			}
		case reflect.Struct:
			fillNil(f, d)
		}
	}
}

// validate checks what would otherwise fail later with a less clear message.
func validate(c *configv1alpha1.ControllerConfiguration) error {
	var errs []error
	if *c.NumberOfConcurrentWorkers < 1 {
		errs = append(errs, fmt.Errorf("--concurrent-workers must be at least 1, is %d", *c.NumberOfConcurrentWorkers))
	}
	le := c.LeaderElectionConfig
	if *le.Enabled {
		if le.Namespace == "" {
			errs = append(errs, errors.New("--leader-election-namespace must be set when --leader-elect is on"))
		}
		if le.RenewDeadline.Duration.Duration >= le.LeaseDuration.Duration.Duration {
			errs = append(errs, errors.New("--leader-election-renew-deadline must be shorter than --leader-election-lease-duration"))
		}
	}
	p := c.PEMSizeLimitsConfig
	for name, v := range map[string]int32{
		"max-certificate-size": *p.MaxCertificateSize, "max-private-key-size": *p.MaxPrivateKeySize,
		"max-certificate-chain-length": *p.MaxChainLength, "max-certificate-bundle-size": *p.MaxBundleSize,
	} {
		if v <= 0 {
			errs = append(errs, fmt.Errorf("--%s must be greater than 0, is %d", name, v))
		}
	}
	if *p.MaxCertificateSize > *p.MaxBundleSize || *p.MaxChainLength > *p.MaxBundleSize {
		errs = append(errs, errors.New("--max-certificate-size and --max-certificate-chain-length must not exceed --max-certificate-bundle-size"))
	}
	for _, name := range c.Controllers {
		if strings.TrimPrefix(name, "-") == "" {
			errs = append(errs, fmt.Errorf("--controllers has an empty name in %q", c.Controllers))
		}
	}
	return errors.Join(errs...)
}
