package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/go-logr/logr"
	"golang.org/x/sync/errgroup"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/client-go/tools/leaderelection"
	"k8s.io/client-go/tools/leaderelection/resourcelock"

	"github.com/cert-manager/cert-manager/internal/controller/feature"
	"github.com/cert-manager/cert-manager/internal/pem"
	configv1alpha1 "github.com/cert-manager/cert-manager/pkg/apis/config/controller/v1alpha1"
	sharedv1alpha1 "github.com/cert-manager/cert-manager/pkg/apis/config/shared/v1alpha1"
	"github.com/cert-manager/cert-manager/pkg/controller"
	"github.com/cert-manager/cert-manager/pkg/healthz"
	logf "github.com/cert-manager/cert-manager/pkg/logs"
	"github.com/cert-manager/cert-manager/pkg/server"
	servertls "github.com/cert-manager/cert-manager/pkg/server/tls"
	"github.com/cert-manager/cert-manager/pkg/server/tls/authority"
	"github.com/cert-manager/cert-manager/pkg/util"
	utilfeature "github.com/cert-manager/cert-manager/pkg/util/feature"
	"github.com/cert-manager/cert-manager/pkg/util/profiling"

	// The controllers this launcher runs; each registers itself with controller.Register.
	gateways "github.com/cert-manager/cert-manager/pkg/controller/certificate-shim/gateways"
	_ "github.com/cert-manager/cert-manager/pkg/controller/certificate-shim/ingresses"
	listenerset "github.com/cert-manager/cert-manager/pkg/controller/certificate-shim/listenerset"
	_ "github.com/cert-manager/cert-manager/pkg/controller/certificaterequests/approver"
	_ "github.com/cert-manager/cert-manager/pkg/controller/certificaterequests/ca"
	_ "github.com/cert-manager/cert-manager/pkg/controller/certificaterequests/selfsigned"
	_ "github.com/cert-manager/cert-manager/pkg/controller/certificates/issuing"
	_ "github.com/cert-manager/cert-manager/pkg/controller/certificates/keymanager"
	_ "github.com/cert-manager/cert-manager/pkg/controller/certificates/metrics"
	_ "github.com/cert-manager/cert-manager/pkg/controller/certificates/readiness"
	_ "github.com/cert-manager/cert-manager/pkg/controller/certificates/requestmanager"
	_ "github.com/cert-manager/cert-manager/pkg/controller/certificates/revisionmanager"
	_ "github.com/cert-manager/cert-manager/pkg/controller/certificates/trigger"
	csrca "github.com/cert-manager/cert-manager/pkg/controller/certificatesigningrequests/ca"
	csrselfsigned "github.com/cert-manager/cert-manager/pkg/controller/certificatesigningrequests/selfsigned"
	"github.com/cert-manager/cert-manager/pkg/controller/clusterissuers"
	_ "github.com/cert-manager/cert-manager/pkg/controller/issuers"
	// The issuer types the issuers controllers can set up.
	_ "github.com/cert-manager/cert-manager/pkg/issuer/ca"
	_ "github.com/cert-manager/cert-manager/pkg/issuer/selfsigned"
)

// The controllers cert-manager runs for `--controllers=*`, by their registered names (its
// DefaultEnabledControllers). Those this launcher does not link are reported at start-up.
var defaultControllers = []string{
	"issuers", "clusterissuers", "certificates-metrics", "ingress-shim", "orders", "challenges",
	"certificaterequests-issuer-acme", "certificaterequests-approver", "certificaterequests-issuer-ca",
	"certificaterequests-issuer-selfsigned", "certificaterequests-issuer-vault",
	"certificaterequests-issuer-venafi", "certificates-trigger", "certificates-issuing",
	"certificates-key-manager", "certificates-request-manager", "certificates-readiness",
	"certificates-revision-manager",
}

// Added by the ExperimentalCertificateSigningRequestControllers feature gate.
var csrControllers = []string{
	"certificatesigningrequests-issuer-acme", csrca.CSRControllerName, csrselfsigned.CSRControllerName,
	"certificatesigningrequests-issuer-venafi", "certificatesigningrequests-issuer-vault",
}

// Cluster-scoped controllers, off when --namespace limits the controller to one namespace.
var clusterScopedControllers = append([]string{clusterissuers.ControllerName}, csrControllers...)

func appVersion() string { return util.AppVersion }

// enabledControllers applies --controllers, the feature gates and --namespace as cert-manager does.
func enabledControllers(c *configv1alpha1.ControllerConfiguration) sets.Set[string] {
	enabled := sets.New[string]()
	var disabled []string
	for _, name := range c.Controllers {
		switch {
		case name == "*":
			enabled.Insert(defaultControllers...)
		case strings.HasPrefix(name, "-"):
			disabled = append(disabled, strings.TrimPrefix(name, "-"))
		default:
			enabled.Insert(name)
		}
	}
	// Only exclusions given: they apply to the defaults.
	if len(disabled) > 0 && enabled.Len() == 0 {
		enabled.Insert(defaultControllers...)
	}
	if utilfeature.DefaultFeatureGate.Enabled(feature.ExperimentalCertificateSigningRequestControllers) {
		enabled.Insert(csrControllers...)
	}
	if utilfeature.DefaultFeatureGate.Enabled(feature.ExperimentalGatewayAPISupport) && *c.GatewayAPIConfig.Enabled {
		enabled.Insert(gateways.ControllerName)
	}
	if utilfeature.DefaultFeatureGate.Enabled(feature.ListenerSets) && *c.GatewayAPIConfig.Enabled && *c.GatewayAPIConfig.EnableListenerSet {
		enabled.Insert(listenerset.ControllerName)
	}
	if c.Namespace != "" {
		enabled.Delete(clusterScopedControllers...)
	}
	enabled.Delete(disabled...)
	return enabled
}

func contextOptions(c *configv1alpha1.ControllerConfiguration) (controller.ContextOptions, error) {
	h01 := c.ACMEHTTP01Config
	var qerr error
	q := func(flag, v string) resource.Quantity {
		r, err := resource.ParseQuantity(v)
		if err != nil {
			qerr = errors.Join(qerr, fmt.Errorf("--%s=%q: %w", flag, v, err))
		}
		return r
	}
	nameservers := c.ACMEDNS01Config.RecursiveNameservers
	opts := controller.ContextOptions{
		Kubeconfig:         c.KubeConfig,
		KubernetesAPIQPS:   *c.KubernetesAPIQPS,
		KubernetesAPIBurst: int(*c.KubernetesAPIBurst),
		APIServerHost:      c.APIServerHost,
		Namespace:          c.Namespace,
		ACMEOptions: controller.ACMEOptions{
			HTTP01SolverResourceRequestCPU:    q("acme-http01-solver-resource-request-cpu", h01.SolverResourceRequestCPU),
			HTTP01SolverResourceRequestMemory: q("acme-http01-solver-resource-request-memory", h01.SolverResourceRequestMemory),
			HTTP01SolverResourceLimitsCPU:     q("acme-http01-solver-resource-limits-cpu", h01.SolverResourceLimitsCPU),
			HTTP01SolverResourceLimitsMemory:  q("acme-http01-solver-resource-limits-memory", h01.SolverResourceLimitsMemory),
			ACMEHTTP01SolverRunAsNonRoot:      *h01.SolverRunAsNonRoot,
			HTTP01SolverImage:                 h01.SolverImage,
			HTTP01SolverNameservers:           h01.SolverNameservers,
			HTTP01SolverExtraLabels:           h01.SolverExtraLabels,
			HTTP01SolverRuntimeClassName:      h01.SolverRuntimeClassName,
			DNS01Nameservers:                  nameservers,
			DNS01CheckRetryPeriod:             c.ACMEDNS01Config.CheckRetryPeriod.Duration.Duration,
			DNS01CheckAuthoritative:           !*c.ACMEDNS01Config.RecursiveNameserversOnly,
		},
		SchedulerOptions: controller.SchedulerOptions{MaxConcurrentChallenges: int(*c.MaxConcurrentChallenges)},
		IssuerOptions: controller.IssuerOptions{
			ClusterIssuerAmbientCredentials: *c.ClusterIssuerAmbientCredentials,
			IssuerAmbientCredentials:        *c.IssuerAmbientCredentials,
			ClusterResourceNamespace:        c.ClusterResourceNamespace,
		},
		IngressShimOptions: controller.IngressShimOptions{
			DefaultIssuerName:                 c.IngressShimConfig.DefaultIssuerName,
			DefaultIssuerKind:                 c.IngressShimConfig.DefaultIssuerKind,
			DefaultIssuerGroup:                c.IngressShimConfig.DefaultIssuerGroup,
			DefaultAutoCertificateAnnotations: c.IngressShimConfig.DefaultAutoCertificateAnnotations,
			ExtraCertificateAnnotations:       c.IngressShimConfig.ExtraCertificateAnnotations,
			GatewayAPIExtraProtocols:          sets.New(c.GatewayAPIConfig.ExtraProtocols...),
		},
		CertificateOptions: controller.CertificateOptions{
			EnableOwnerRef:                           *c.EnableCertificateOwnerRef,
			CopiedAnnotationPrefixes:                 c.CopiedAnnotationPrefixes,
			CertificateRequestMinimumBackoffDuration: c.CertificateRequestMinimumBackoffDuration.Duration.Duration,
			CertificateRequestMaximumBackoffDuration: c.CertificateRequestMaximumBackoffDuration.Duration.Duration,
		},
		ConfigOptions: controller.ConfigOptions{
			EnableGatewayAPI:            *c.GatewayAPIConfig.Enabled,
			EnableGatewayAPIListenerSet: *c.GatewayAPIConfig.EnableListenerSet,
		},
	}
	return opts, qerr
}

// metricsCertificateSource: TLS for the metrics server from files or a CA Secret, if asked for.
func metricsCertificateSource(log logr.Logger, t sharedv1alpha1.TLSConfig, ctx *controller.Context) servertls.CertificateSource {
	switch {
	case t.Filesystem.CertFile != "" || t.Filesystem.KeyFile != "":
		log.Info("metrics over TLS from files", "cert", t.Filesystem.CertFile, "key", t.Filesystem.KeyFile)
		return &servertls.FileCertificateSource{CertPath: t.Filesystem.CertFile, KeyPath: t.Filesystem.KeyFile}
	case t.Dynamic.SecretNamespace != "" || t.Dynamic.SecretName != "" || len(t.Dynamic.DNSNames) > 0:
		log.Info("metrics over TLS from a CA Secret", "namespace", t.Dynamic.SecretNamespace, "name", t.Dynamic.SecretName)
		return &servertls.DynamicSource{
			DNSNames: t.Dynamic.DNSNames,
			Authority: &authority.DynamicAuthority{
				SecretNamespace: t.Dynamic.SecretNamespace,
				SecretName:      t.Dynamic.SecretName,
				SecretLabels:    map[string]string{"app.kubernetes.io/managed-by": "cert-manager"},
				LeafDuration:    t.Dynamic.LeafDuration.Duration.Duration,
				RESTConfig:      ctx.RESTConfig,
			},
		}
	}
	return nil
}

// serveHTTP runs srv on ln in g until ctx ends, then shuts it down within 5 s.
func serveHTTP(ctx context.Context, g *errgroup.Group, srv *http.Server, ln net.Listener) {
	g.Go(func() error {
		<-ctx.Done()
		shutdown, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		return srv.Shutdown(shutdown) //nolint:contextcheck // the root context is already done
	})
	g.Go(func() error {
		if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
			return err
		}
		return nil
	})
}

func runController(rootCtx context.Context, o *options) error {
	c := o.cfg
	rootCtx, cancel := context.WithCancel(rootCtx)
	defer cancel()
	log := logf.FromContext(rootCtx)
	g, rootCtx := errgroup.WithContext(rootCtx)

	v := util.VersionInfo()
	log.Info("starting cert-manager controller (gitops-harness sim launcher)", "version", v.GitVersion, "go_version", v.GoVersion, "platform", v.Platform)

	opts, err := contextOptions(c)
	if err != nil {
		return err
	}
	factory, err := controller.NewContextFactory(rootCtx, opts)
	if err != nil {
		return err
	}
	ctx, err := factory.Build()
	if err != nil {
		return err
	}
	p := c.PEMSizeLimitsConfig
	pem.SetGlobalSizeLimits(pem.NewSizeLimitsFromConfig(int(*p.MaxCertificateSize), int(*p.MaxPrivateKeySize), int(*p.MaxChainLength), int(*p.MaxBundleSize)))

	enabled := enabledControllers(c)
	known := controller.Known()
	var missing []string
	for name := range enabled {
		if _, ok := known[name]; !ok {
			missing = append(missing, name)
		}
	}
	sort.Strings(missing)
	enabled.Delete(missing...)
	log.Info(fmt.Sprintf("enabled controllers: %s", sets.List(enabled)))
	if len(missing) > 0 {
		log.Info(fmt.Sprintf("enabled but not built into the sim launcher (ACME, Vault, Venafi), not running: %s", strings.Join(missing, ", ")))
	}

	certSource := metricsCertificateSource(log, c.MetricsTLSConfig, ctx)
	if certSource != nil {
		g.Go(func() error {
			if err := certSource.Start(rootCtx); err != nil && !errors.Is(err, context.Canceled) {
				return err
			}
			return nil
		})
	}
	metricsLn, err := server.Listen(rootCtx, "tcp", c.MetricsListenAddress,
		server.WithCertificateSource(certSource),
		server.WithTLSCipherSuites(c.MetricsTLSConfig.CipherSuites),
		server.WithTLSMinVersion(c.MetricsTLSConfig.MinTLSVersion),
	)
	if err != nil {
		return fmt.Errorf("metrics server on %s: %w", c.MetricsListenAddress, err)
	}
	ctx.Metrics.SetupACMECollector(ctx.SharedInformerFactory.Acme().V1().Challenges().Lister())
	ctx.Metrics.SetupCertificateCollector(ctx.SharedInformerFactory.Certmanager().V1().Certificates().Lister())
	ctx.Metrics.SetupIssuerCollector(ctx.SharedInformerFactory.Certmanager().V1().Issuers().Lister())
	if enabled.Has(clusterissuers.ControllerName) {
		ctx.Metrics.SetupClusterIssuerCollector(ctx.SharedInformerFactory.Certmanager().V1().ClusterIssuers().Lister())
	}
	log.Info("serving metrics", "address", metricsLn.Addr().String())
	serveHTTP(rootCtx, g, ctx.Metrics.NewServer(metricsLn), metricsLn)

	if *c.EnablePprof {
		var lc net.ListenConfig
		ln, err := lc.Listen(rootCtx, "tcp", c.PprofAddress)
		if err != nil {
			return fmt.Errorf("profiler on %s: %w", c.PprofAddress, err)
		}
		mux := http.NewServeMux()
		profiling.Install(mux)
		serveHTTP(rootCtx, g, &http.Server{Handler: mux, ReadHeaderTimeout: 32 * time.Second}, ln)
	}

	var lc net.ListenConfig
	healthzLn, err := lc.Listen(rootCtx, "tcp", c.HealthzListenAddress)
	if err != nil {
		return fmt.Errorf("healthz server on %s: %w", c.HealthzListenAddress, err)
	}
	healthzServer := healthz.NewServer(c.LeaderElectionConfig.HealthzTimeout.Duration.Duration)
	log.Info("serving healthz", "address", healthzLn.Addr().String())
	g.Go(func() error { return healthzServer.Start(rootCtx, healthzLn) })

	elected := make(chan struct{})
	if *c.LeaderElectionConfig.Enabled {
		g.Go(func() error { return leaderElection(rootCtx, c, factory, healthzServer, elected) })
	} else {
		close(elected)
	}
	select {
	case <-rootCtx.Done():
		return g.Wait()
	case <-elected:
	}

	for name, construct := range known {
		if !enabled.Has(name) {
			continue
		}
		iface, err := construct(factory)
		if err != nil {
			cancel()
			return errors.Join(fmt.Errorf("starting controller %s: %w", name, err), g.Wait())
		}
		g.Go(func() error {
			log.V(logf.InfoLevel).Info("starting controller", "controller", name)
			return iface.Run(int(*c.NumberOfConcurrentWorkers), rootCtx)
		})
	}
	ctx.SharedInformerFactory.Start(rootCtx.Done())
	ctx.KubeSharedInformerFactory.Start(rootCtx.Done())
	ctx.HTTP01ResourceMetadataInformersFactory.Start(rootCtx.Done())
	gatewayInformers := utilfeature.DefaultFeatureGate.Enabled(feature.ExperimentalGatewayAPISupport) && *c.GatewayAPIConfig.Enabled
	if gatewayInformers {
		ctx.GWShared.Start(rootCtx.Done())
	}

	err = g.Wait()
	log.Info("control loops exited")
	if gatewayInformers {
		ctx.GWShared.Shutdown()
	}
	ctx.HTTP01ResourceMetadataInformersFactory.Shutdown()
	ctx.KubeSharedInformerFactory.Shutdown()
	ctx.SharedInformerFactory.Shutdown()
	return err
}

// leaderElection holds the cert-manager-controller Lease as the real controller does, closing
// elected when this instance leads; losing the lease ends the process with an error.
func leaderElection(ctx context.Context, c *configv1alpha1.ControllerConfiguration, factory *controller.ContextFactory, hz *healthz.Server, elected chan struct{}) error {
	lctx, err := factory.Build("leader-election")
	if err != nil {
		return err
	}
	host, err := os.Hostname()
	if err != nil {
		return fmt.Errorf("leader election identity: %w", err)
	}
	le := c.LeaderElectionConfig
	lock, err := resourcelock.NewWithLabels(resourcelock.LeasesResourceLock, le.Namespace, "cert-manager-controller",
		lctx.Client.CoreV1(), lctx.Client.CoordinationV1(),
		resourcelock.ResourceLockConfig{Identity: host + "-external-cert-manager-controller", EventRecorder: lctx.Recorder},
		map[string]string{"app.kubernetes.io/managed-by": "cert-manager"})
	if err != nil {
		return fmt.Errorf("leader election lock: %w", err)
	}
	lost := make(chan error, 1)
	elector, err := leaderelection.NewLeaderElector(leaderelection.LeaderElectionConfig{
		Lock:            lock,
		LeaseDuration:   le.LeaseDuration.Duration.Duration,
		RenewDeadline:   le.RenewDeadline.Duration.Duration,
		RetryPeriod:     le.RetryPeriod.Duration.Duration,
		ReleaseOnCancel: true,
		WatchDog:        hz.LeaderHealthzAdaptor,
		Callbacks: leaderelection.LeaderCallbacks{
			OnStartedLeading: func(context.Context) { close(elected) },
			OnStoppedLeading: func() {
				if ctx.Err() == nil {
					lost <- errors.New("leader election lost")
				}
			},
		},
	})
	if err != nil {
		return err
	}
	elector.Run(ctx)
	select {
	case err := <-lost:
		return err
	default:
		return nil
	}
}
