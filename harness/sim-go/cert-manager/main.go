// Command cert-manager-controller runs cert-manager's own controllers (from the module
// github.com/cert-manager/cert-manager, at the version pinned in go.mod) as a host process for
// gitops-harness's sim tier.
//
// cert-manager's cmd/controller is a nested module (…/controller-binary) that the Go module
// proxy does not serve, so this launcher takes its place: it accepts the flags the cert-manager
// chart's controller Deployment passes (and the real binary's other flags, with the same
// defaults), reads the same --config file, and starts the same controllers through
// cert-manager's controller registry. Only the wiring is ours; every reconcile, condition,
// reason, event and Secret is cert-manager's code.
//
// What differs from the real binary, and why:
//   - Only the controllers whose packages are linked run: the issuers/clusterissuers, the
//     certificates controllers, CertificateRequest approval and the CA and SelfSigned signers
//     (also for CertificateSigningRequests behind the experimental feature gate), and the
//     ingress/gateway shims. ACME, Vault and Venafi are not linked: Venafi's client module is
//     not served by the Go module proxy, and the ACME and Vault issuers need a network the sim
//     does not have. Enabled but missing controllers are named in the start-up log.
//   - Nothing else: leader election, the metrics, healthz and profiler servers behave as
//     upstream; out of cluster give --kubeconfig, and --leader-elect=false for a single instance.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	logf "github.com/cert-manager/cert-manager/pkg/logs"
)

func main() {
	os.Exit(run())
}

func run() int {
	logf.InitLogs()
	defer logf.FlushLogs()

	opts, err := parseOptions(os.Args[1:])
	if errors.Is(err, errHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "error: %v\n", err)
		return 2
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	ctx = logf.NewContext(ctx, logf.Log, "controller")

	if err := runController(ctx, opts); err != nil && !errors.Is(err, context.Canceled) {
		logf.Log.Error(err, "error running the cert-manager controller")
		return 1
	}
	return 0
}
