package main

import (
	"bytes"
	"context"
	"embed"
	"errors"
	"flag"
	"fmt"
	"go/format"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strings"
	"text/template"

	"golang.org/x/mod/modfile"
	"golang.org/x/mod/module"
	"golang.org/x/mod/semver"
)

// templates holds the service skeleton. Files ending in .tmpl are
// text/template sources; the generated protobuf code is copied as it is.
//
//go:embed templates
var templates embed.FS

// patronModule is the module path generated services require.
const patronModule = "github.com/patron-go/patron"

// replacedVersion is what a generated go.mod requires when a replace
// directive points at a checkout: the zero pseudo-version, which is what the
// go command itself writes for a replaced module without a version.
const replacedVersion = "v0.0.0-00010101000000-000000000000"

const newSynopsis = "patron new --module path [--http] [--grpc] [--kafka] [--amqp] [--sqs] [--sql postgres|mysql] [--redis] [--patron dir] [--force] [--tidy] dir"

const newHelp = `New creates a Patron service in dir: main.go wired with the chosen
components and clients, a handler and its unit test per component, a README,
a Makefile, a Dockerfile, a docker-compose.yml for the dependencies, a
.gitignore and a go.mod requiring Patron.

Without a component flag (--http, --grpc, --kafka, --amqp, --sqs) the service
gets --http. dir is created when missing; a dir that holds files is refused
unless --force, which overwrites the files the template writes and leaves the
others alone.

The go.mod lists only Patron: run 'go mod tidy' in dir (which needs the module
proxy or a warm module cache) to complete it and write go.sum, or pass --tidy.

Which Patron the service requires: with --patron, the checkout in that
directory, through a replace directive (go.sum starts from the checkout's);
else the version of this patron binary when it was built from a released
module (go run github.com/patron-go/patron/cmd/patron@v0.x.y); else the
checkout the current directory is in, or the one this binary was built from,
also through a replace directive. When none applies, new stops and asks for
--patron.

The flags are:
`

// newOptions is the parsed command line of patron new.
type newOptions struct {
	module string
	dir    string
	http   bool
	grpc   bool
	kafka  bool
	amqp   bool
	sqs    bool
	sql    string
	redis  bool
	patron string // --patron: a Patron checkout to replace the module with
	force  bool
	tidy   bool
}

// serviceData is what the templates see.
type serviceData struct {
	Module        string // module path
	Name          string // service name: the module's last element, cleaned
	DBName        string // database name for the compose file and defaults
	PatronVersion string // required in go.mod
	PatronDir     string // absolute path of the checkout go.mod replaces Patron with, or ""
	HTTP, GRPC    bool
	Kafka, AMQP   bool
	SQS, Redis    bool
	SQL           string // "", "postgres" or "mysql"
}

// ReplacePath is PatronDir as a go.mod replace target, quoted when it
// holds spaces or other characters go.mod cannot take bare.
func (d serviceData) ReplacePath() string { return modfile.AutoQuote(d.PatronDir) }

// Consumers reports whether the service consumes messages.
func (d serviceData) Consumers() bool { return d.Kafka || d.AMQP || d.SQS }

// App reports whether main.go needs its app type: something that handles
// requests or messages, or a client to hand them.
func (d serviceData) App() bool { return d.HTTP || d.Consumers() || d.SQL != "" || d.Redis }

// Compose reports whether the service has dependencies to start in Docker.
func (d serviceData) Compose() bool { return d.Consumers() || d.SQL != "" || d.Redis }

// file is one generated file: its template and where it goes.
type file struct {
	src  string // under templates/
	dst  string // slash-separated, relative to dir
	when func(serviceData) bool
}

func always(serviceData) bool { return true }

var skeleton = []file{
	{"go.mod.tmpl", "go.mod", always},
	{"main.go.tmpl", "main.go", always},
	{"http.go.tmpl", "http.go", func(d serviceData) bool { return d.HTTP }},
	{"http_test.go.tmpl", "http_test.go", func(d serviceData) bool { return d.HTTP }},
	{"grpc.go.tmpl", "grpc.go", func(d serviceData) bool { return d.GRPC }},
	{"grpc_test.go.tmpl", "grpc_test.go", func(d serviceData) bool { return d.GRPC }},
	{"proto/greeter/v1/greeter.proto", "proto/greeter/v1/greeter.proto", func(d serviceData) bool { return d.GRPC }},
	{"proto/greeter/v1/greeter.pb.go.txt", "proto/greeter/v1/greeter.pb.go", func(d serviceData) bool { return d.GRPC }},
	{"proto/greeter/v1/greeter_grpc.pb.go.txt", "proto/greeter/v1/greeter_grpc.pb.go", func(d serviceData) bool { return d.GRPC }},
	{"event.go.tmpl", "event.go", serviceData.Consumers},
	{"event_test.go.tmpl", "event_test.go", serviceData.Consumers},
	{"kafka.go.tmpl", "kafka.go", func(d serviceData) bool { return d.Kafka }},
	{"kafka_test.go.tmpl", "kafka_test.go", func(d serviceData) bool { return d.Kafka }},
	{"amqp.go.tmpl", "amqp.go", func(d serviceData) bool { return d.AMQP }},
	{"amqp_test.go.tmpl", "amqp_test.go", func(d serviceData) bool { return d.AMQP }},
	{"sqs.go.tmpl", "sqs.go", func(d serviceData) bool { return d.SQS }},
	{"sqs_test.go.tmpl", "sqs_test.go", func(d serviceData) bool { return d.SQS }},
	{"README.md.tmpl", "README.md", always},
	{"Makefile.tmpl", "Makefile", always},
	{"Dockerfile.tmpl", "Dockerfile", always},
	{"dockerignore.tmpl", ".dockerignore", always},
	{"gitignore.tmpl", ".gitignore", always},
	{"docker-compose.yml.tmpl", "docker-compose.yml", always},
	{"goaws.yaml.tmpl", "goaws.yaml", func(d serviceData) bool { return d.SQS }},
}

// seedFile is the checkout's go.sum, copied as the new service's first
// go.sum when go.mod replaces Patron with that checkout: its checksums were
// verified when the checkout's modules were downloaded, and they spare
// go mod tidy most lookups (with a warm module cache, all of them).
const seedFile = "go.sum"

func runNew(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	opts, code, ok := parseNew(args, stderr)
	if !ok {
		return code
	}
	data, err := newServiceData(opts)
	if err != nil {
		fmt.Fprintf(stderr, "patron new: %v\n", err)
		return exitUsage
	}
	if err := checkDir(opts.dir, opts.force); err != nil {
		fmt.Fprintf(stderr, "patron new: %v\n", err)
		return exitUsage
	}
	created, err := generate(opts.dir, data)
	if err != nil {
		fmt.Fprintf(stderr, "patron new: %v\n", err)
		return exitError
	}
	fmt.Fprintf(stdout, "created %s (module %s):\n", opts.dir, data.Module)
	for _, f := range created {
		fmt.Fprintf(stdout, "\t%s\n", f)
	}
	if data.PatronDir != "" {
		fmt.Fprintf(stdout, "Patron comes from the checkout in %s (a replace directive in go.mod; README.md says how to switch to a published version)\n", data.PatronDir)
	}
	if opts.tidy {
		fmt.Fprintln(stdout, "running go mod tidy")
		cmd := exec.CommandContext(ctx, "go", "mod", "tidy")
		cmd.Dir = opts.dir
		cmd.Stdout, cmd.Stderr = stdout, stderr
		if err := cmd.Run(); err != nil {
			fmt.Fprintf(stderr, "patron new: go mod tidy in %s: %v\n", opts.dir, err)
			return exitError
		}
	}
	fmt.Fprintf(stdout, "\nnext:\n\tcd %s\n", opts.dir)
	if !opts.tidy {
		fmt.Fprintln(stdout, "\tgo mod tidy")
	}
	fmt.Fprintln(stdout, "\tgo test ./...\n\tgo run .")
	if data.Compose() {
		fmt.Fprintln(stdout, "(docker compose up -d starts the dependencies; see README.md)")
	}
	return exitOK
}

// parseNew parses the command line. ok false means run must return code.
func parseNew(args []string, stderr io.Writer) (opts newOptions, code int, ok bool) {
	fs := flag.NewFlagSet("new", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: %s\n\n%s", newSynopsis, newHelp)
		fs.PrintDefaults()
	}
	fs.StringVar(&opts.module, "module", "", "module `path` of the new service, e.g. example.com/orders (required)")
	fs.BoolVar(&opts.http, "http", false, "serve HTTP routes on the service's default server")
	fs.BoolVar(&opts.grpc, "grpc", false, "serve a gRPC API (a Greeter to replace with yours)")
	fs.BoolVar(&opts.kafka, "kafka", false, "consume a Kafka topic and add a Kafka producer")
	fs.BoolVar(&opts.amqp, "amqp", false, "consume a RabbitMQ queue and add an AMQP publisher")
	fs.BoolVar(&opts.sqs, "sqs", false, "consume an Amazon SQS queue")
	fs.StringVar(&opts.sql, "sql", "", "add a traced database/sql handle: `postgres` or mysql")
	fs.BoolVar(&opts.redis, "redis", false, "add a traced Redis client (and a Redis route cache with --http)")
	fs.StringVar(&opts.patron, "patron", "", "use the Patron checkout in `dir` (a replace directive in go.mod)")
	fs.BoolVar(&opts.force, "force", false, "write into a directory that is not empty")
	fs.BoolVar(&opts.tidy, "tidy", false, "run 'go mod tidy' in the new service (uses the module proxy)")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return opts, exitOK, false
		}
		return opts, exitUsage, false
	}
	usageErr := func(format string, a ...any) (newOptions, int, bool) {
		fmt.Fprintf(stderr, "patron new: "+format+"\n", a...)
		fmt.Fprintf(stderr, "usage: %s\nRun 'patron new -h' for details.\n", newSynopsis)
		return opts, exitUsage, false
	}
	switch rest := fs.Args(); {
	case len(rest) == 0:
		return usageErr("missing dir")
	case len(rest) > 1 && strings.HasPrefix(rest[1], "-"):
		return usageErr("flags must come before dir: %q", rest[1:])
	case len(rest) > 1:
		return usageErr("one dir expected, got %q", rest)
	}
	opts.dir = fs.Arg(0)
	if opts.module == "" {
		return usageErr("--module is required")
	}
	switch opts.sql {
	case "", "postgres", "mysql":
	default:
		return usageErr("--sql %q: want postgres or mysql", opts.sql)
	}
	if !opts.http && !opts.grpc && !opts.kafka && !opts.amqp && !opts.sqs {
		opts.http = true
	}
	return opts, exitOK, true
}

func newServiceData(o newOptions) (serviceData, error) {
	if err := checkModulePath(o.module); err != nil {
		return serviceData{}, err
	}
	version, dir, err := resolvePatron(o.patron, releasedVersion(), checkoutCandidates()...)
	if err != nil {
		return serviceData{}, err
	}
	name := serviceName(o.module)
	return serviceData{
		Module: o.module, Name: name, DBName: strings.ReplaceAll(name, "-", "_"),
		PatronVersion: version, PatronDir: dir,
		HTTP: o.http, GRPC: o.grpc, Kafka: o.kafka, AMQP: o.amqp, SQS: o.sqs,
		SQL: o.sql, Redis: o.redis,
	}, nil
}

// errNoPatron is returned when new cannot tell which Patron to require.
var errNoPatron = errors.New("this patron was not built from a released version and no Patron checkout was found: " +
	"pass --patron DIR (a checkout of " + patronModule + "), or run a released patron " +
	"(go run " + patronModule + "/cmd/patron@VERSION new ...)")

// resolvePatron decides what the generated go.mod requires: the checkout in
// flagDir when it is set, else the released version of this binary, else the
// first Patron checkout that holds one of candidates. dir is the absolute
// path of the checkout to replace Patron with, "" for a released version.
func resolvePatron(flagDir, released string, candidates ...string) (version, dir string, err error) {
	if flagDir != "" {
		dir, err := filepath.Abs(flagDir)
		if err != nil {
			return "", "", fmt.Errorf("--patron %s: %w", flagDir, err)
		}
		if err := checkCheckout(dir); err != nil {
			return "", "", fmt.Errorf("--patron %s: %w", flagDir, err)
		}
		return replacedVersion, dir, nil
	}
	if released != "" {
		return released, "", nil
	}
	for _, c := range candidates {
		if dir, ok := findCheckout(c); ok {
			return replacedVersion, dir, nil
		}
	}
	return "", "", errNoPatron
}

// checkCheckout reports why dir is not the root of a Patron checkout.
func checkCheckout(dir string) error {
	b, err := os.ReadFile(filepath.Join(dir, "go.mod"))
	if errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("not a Patron checkout: no go.mod in %s", dir)
	}
	if err != nil {
		return err
	}
	if got := modfile.ModulePath(b); got != patronModule {
		return fmt.Errorf("not a Patron checkout: %s declares module %q, want %s", filepath.Join(dir, "go.mod"), got, patronModule)
	}
	return nil
}

// findCheckout looks for the root of a Patron checkout in dir and its
// parents; the first go.mod found decides, so that a service inside a
// checkout (examples/) does not count as Patron.
func findCheckout(dir string) (string, bool) {
	if dir == "" {
		return "", false
	}
	dir, err := filepath.Abs(dir)
	if err != nil {
		return "", false
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, checkCheckout(dir) == nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", false
		}
		dir = parent
	}
}

// checkoutCandidates are where a Patron checkout may be, in order: the
// working directory (go run ./cmd/patron from a checkout), and the source
// directory this binary was built from (go install ./cmd/patron, then run
// elsewhere; unknown when built with -trimpath).
func checkoutCandidates() []string {
	var c []string
	if wd, err := os.Getwd(); err == nil {
		c = append(c, wd)
	}
	if _, file, _, ok := runtime.Caller(0); ok && filepath.IsAbs(file) {
		c = append(c, filepath.Dir(file))
	}
	return c
}

// checkModulePath applies the rules of 'go mod init': a valid import path
// whose major version suffix, if any, is well formed (v2 and up).
func checkModulePath(p string) error {
	if err := module.CheckImportPath(p); err != nil {
		return fmt.Errorf("invalid module path: %w", err)
	}
	if _, _, ok := module.SplitPathVersion(p); !ok {
		return fmt.Errorf("invalid module path %q: malformed major version suffix (want /v2 or higher, or none)", p)
	}
	return nil
}

// serviceName derives the service's name from the module path's last
// element (without a /vN suffix): lower case letters, digits and dashes,
// usable as a binary, container and compose service name.
func serviceName(modPath string) string {
	prefix, _, _ := module.SplitPathVersion(modPath)
	var b strings.Builder
	dash := false
	for _, r := range strings.ToLower(path.Base(prefix)) {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9':
			b.WriteRune(r)
			dash = false
		case !dash && b.Len() > 0:
			b.WriteByte('-')
			dash = true
		}
	}
	name := strings.TrimSuffix(b.String(), "-")
	switch {
	case name == "":
		return "service"
	case name[0] < 'a': // a digit: not a valid first character everywhere
		return "service-" + name
	}
	return name
}

// releasedVersion is this binary's version when it was built from a
// released module (go run github.com/patron-go/patron/cmd/patron@v1.2.3),
// "" otherwise (built in a checkout, where the version is (devel), a
// pseudo-version of an unpublished commit, or +dirty).
func releasedVersion() string {
	bi, ok := debug.ReadBuildInfo()
	if !ok || bi.Main.Path != patronModule || !semver.IsValid(bi.Main.Version) ||
		strings.Contains(bi.Main.Version, "+dirty") || module.IsPseudoVersion(bi.Main.Version) {
		return ""
	}
	return bi.Main.Version
}

// checkDir refuses a directory that holds anything, unless force.
func checkDir(dir string, force bool) error {
	fi, err := os.Stat(dir)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil
	case err != nil:
		return err
	case !fi.IsDir():
		return fmt.Errorf("%s exists and is not a directory", dir)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	if len(entries) > 0 && !force {
		return fmt.Errorf("%s is not empty (use --force to write into it; files the template writes are overwritten)", dir)
	}
	return nil
}

// generate renders the skeleton into dir and returns the files written, in
// the order of the skeleton.
func generate(dir string, data serviceData) ([]string, error) {
	var created []string
	for _, f := range skeleton {
		if !f.when(data) {
			continue
		}
		content, err := render(f.src, data)
		if err != nil {
			return created, err
		}
		dst := filepath.Join(dir, filepath.FromSlash(f.dst))
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			return created, err
		}
		if err := os.WriteFile(dst, content, 0o644); err != nil {
			return created, err
		}
		created = append(created, f.dst)
	}
	if data.PatronDir != "" {
		sum, err := os.ReadFile(filepath.Join(data.PatronDir, seedFile))
		switch {
		case errors.Is(err, fs.ErrNotExist): // tidy writes one
		case err != nil:
			return created, err
		default:
			if err := os.WriteFile(filepath.Join(dir, seedFile), sum, 0o644); err != nil {
				return created, err
			}
			created = append(created, seedFile)
		}
	}
	return created, nil
}

// render executes one template (or copies a file that is not one) and
// gofmts Go sources, so that the conditional blocks leave no odd spacing.
func render(src string, data serviceData) ([]byte, error) {
	raw, err := templates.ReadFile("templates/" + src)
	if err != nil {
		return nil, err
	}
	if !strings.HasSuffix(src, ".tmpl") {
		return raw, nil
	}
	t, err := template.New(src).Option("missingkey=error").Parse(string(raw))
	if err != nil {
		return nil, fmt.Errorf("template %s: %w", src, err)
	}
	var buf bytes.Buffer
	if err := t.Execute(&buf, data); err != nil {
		return nil, fmt.Errorf("template %s: %w", src, err)
	}
	if strings.HasSuffix(src, ".go.tmpl") {
		out, err := format.Source(buf.Bytes())
		if err != nil {
			return nil, fmt.Errorf("template %s: generated Go does not parse: %w", src, err)
		}
		return out, nil
	}
	return buf.Bytes(), nil
}
