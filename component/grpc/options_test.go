package grpc_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	testgrpc "google.golang.org/grpc/interop/grpc_testing"
	"google.golang.org/grpc/keepalive"
	reflectionpb "google.golang.org/grpc/reflection/grpc_reflection_v1"
	"google.golang.org/grpc/status"

	clientgrpc "github.com/patron-go/patron/client/grpc"
	patrongrpc "github.com/patron-go/patron/component/grpc"
	"github.com/patron-go/patron/internal/grpctest"
)

func TestNewRejectsBadConfiguration(t *testing.T) {
	cases := map[string]struct {
		addr string
		opt  patrongrpc.Option
	}{
		"bad address":         {"no-port", nil},
		"nil option":          {"127.0.0.1:0", nil},
		"nil tracer":          {"127.0.0.1:0", patrongrpc.WithTracerProvider(nil)},
		"nil meter":           {"127.0.0.1:0", patrongrpc.WithMeterProvider(nil)},
		"nil propagator":      {"127.0.0.1:0", patrongrpc.WithPropagator(nil)},
		"nil logger":          {"127.0.0.1:0", patrongrpc.WithLogger(nil)},
		"nil TLS":             {"127.0.0.1:0", patrongrpc.WithTLS(nil)},
		"TLS without cert":    {"127.0.0.1:0", patrongrpc.WithTLS(&tls.Config{})},
		"nil credentials":     {"127.0.0.1:0", patrongrpc.WithCredentials(nil)},
		"zero message size":   {"127.0.0.1:0", patrongrpc.WithMaxMessageSize(0, 1)},
		"negative keepalive":  {"127.0.0.1:0", patrongrpc.WithKeepalive(keepalive.ServerParameters{Time: -1}, keepalive.EnforcementPolicy{})},
		"nil server option":   {"127.0.0.1:0", patrongrpc.WithServerOptions(nil)},
		"nil unary":           {"127.0.0.1:0", patrongrpc.WithUnaryInterceptors(nil)},
		"nil stream":          {"127.0.0.1:0", patrongrpc.WithStreamInterceptors(nil)},
		"zero drain timeout":  {"127.0.0.1:0", patrongrpc.WithDrainTimeout(0)},
		"unresolvable listen": {"256.0.0.1:0", patrongrpc.WithReflection()},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			var opts []patrongrpc.Option
			if name != "bad address" {
				opts = append(opts, c.opt)
			}
			comp, err := patrongrpc.New(c.addr, opts...)
			if err == nil {
				_ = comp.Close()
				t.Fatal("New accepted a bad configuration")
			}
			if !strings.HasPrefix(err.Error(), "grpc: ") {
				t.Errorf("error %q does not say where it comes from", err)
			}
		})
	}
}

func TestPortInUse(t *testing.T) {
	l := grpctest.Listen(t)
	if comp, err := patrongrpc.New(l.Addr().String()); err == nil {
		_ = comp.Close()
		t.Fatal("New on a port in use succeeded")
	}
}

func TestTLS(t *testing.T) {
	cert, pool := selfSigned(t)
	f := start(t, &grpctest.Service{}, patrongrpc.WithTLS(&tls.Config{Certificates: []tls.Certificate{cert}}))

	conn := dial(t, f.kit, f.comp.Addr().String(), clientgrpc.WithTLS(&tls.Config{RootCAs: pool}))
	if _, err := testgrpc.NewTestServiceClient(conn).UnaryCall(t.Context(), &testgrpc.SimpleRequest{}); err != nil {
		t.Fatalf("call over TLS: %v", err)
	}
	// f.client speaks plaintext: refused.
	if _, err := f.client.UnaryCall(t.Context(), &testgrpc.SimpleRequest{}); status.Code(err) != codes.Unavailable {
		t.Fatalf("plaintext call to a TLS server = %v, want Unavailable", err)
	}
}

func TestMaxMessageSizeAndInterceptors(t *testing.T) {
	var (
		mu    sync.Mutex
		order []string
	)
	unary := func(name string) grpc.UnaryServerInterceptor {
		return func(ctx context.Context, req any, _ *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
			mu.Lock()
			order = append(order, name)
			mu.Unlock()
			return h(ctx, req)
		}
	}
	f := start(t, &grpctest.Service{},
		patrongrpc.WithMaxMessageSize(1024, 1024),
		patrongrpc.WithUnaryInterceptors(unary("first"), unary("second")),
		patrongrpc.WithKeepalive(keepalive.ServerParameters{Time: time.Minute}, keepalive.EnforcementPolicy{MinTime: time.Second}),
		patrongrpc.WithServerOptions(grpc.MaxConcurrentStreams(100)),
	)
	if _, err := f.client.UnaryCall(t.Context(), &testgrpc.SimpleRequest{Payload: payload("small")}); err != nil {
		t.Fatalf("small call: %v", err)
	}
	mu.Lock()
	if strings.Join(order, ",") != "first,second" {
		t.Errorf("interceptor order = %v", order)
	}
	mu.Unlock()
	big := strings.Repeat("x", 4096)
	if _, err := f.client.UnaryCall(t.Context(), &testgrpc.SimpleRequest{Payload: payload(big)}); status.Code(err) != codes.ResourceExhausted {
		t.Fatalf("oversized call = %v, want ResourceExhausted", err)
	}
}

func TestReflection(t *testing.T) {
	f := start(t, &grpctest.Service{}, patrongrpc.WithReflection())
	stream, err := reflectionpb.NewServerReflectionClient(f.conn).ServerReflectionInfo(t.Context())
	if err != nil {
		t.Fatalf("ServerReflectionInfo: %v", err)
	}
	if err := stream.Send(&reflectionpb.ServerReflectionRequest{
		MessageRequest: &reflectionpb.ServerReflectionRequest_ListServices{},
	}); err != nil {
		t.Fatalf("Send: %v", err)
	}
	resp, err := stream.Recv()
	if err != nil {
		t.Fatalf("Recv: %v", err)
	}
	var names []string
	for _, s := range resp.GetListServicesResponse().GetService() {
		names = append(names, s.GetName())
	}
	if got := strings.Join(names, ","); !strings.Contains(got, "grpc.testing.TestService") || !strings.Contains(got, "grpc.health.v1.Health") {
		t.Errorf("reflected services = %s", got)
	}
	_ = stream.CloseSend()
}

func TestWithoutHealth(t *testing.T) {
	f := start(t, &grpctest.Service{}, patrongrpc.WithoutHealth())
	if f.comp.Health() != nil {
		t.Fatal("Health() is not nil with WithoutHealth")
	}
	if _, ok := f.comp.Server().GetServiceInfo()["grpc.health.v1.Health"]; ok {
		t.Fatal("health service registered with WithoutHealth")
	}
}

// selfSigned returns a certificate for 127.0.0.1 and a pool trusting it.
func selfSigned(t *testing.T) (tls.Certificate, *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "patron test"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		IPAddresses:           []net.IP{net.ParseIP("127.0.0.1")},
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(leaf)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}, pool
}
