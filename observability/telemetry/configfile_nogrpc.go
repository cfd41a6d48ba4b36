//go:build patron_nogrpcexport

package telemetry

import (
	"context"
	"fmt"
)

// fromConfigFile is left out with patron_nogrpcexport: otelconf links every
// exporter, gRPC included, which is what the tag keeps out of the binary.
func (p *Provider) fromConfigFile(_ context.Context, _ *setupConfig, env envConfig) error {
	return fmt.Errorf("observability: OTEL_CONFIG_FILE=%q: this binary was built with the patron_nogrpcexport tag, which leaves out the configuration file; build without the tag or use the OTEL_* variables", env.configFile)
}
