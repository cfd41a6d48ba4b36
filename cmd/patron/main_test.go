package main

import (
	"bytes"
	"context"
	"errors"
	"go/parser"
	"go/token"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// runCLI runs the command line args and returns its exit code and outputs.
func runCLI(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code = run(t.Context(), args, &out, &errOut)
	return code, out.String(), errOut.String()
}

func TestUsage(t *testing.T) {
	tests := []struct {
		name       string
		args       []string
		code       int
		stdout     string
		stderr     string
		emptyOther bool
	}{
		{name: "no command", args: nil, code: exitUsage, stderr: "Usage:\n\n\tpatron <command> [arguments]"},
		{name: "help", args: []string{"help"}, code: exitOK, stdout: "Usage:\n\n\tpatron <command> [arguments]"},
		{name: "--help", args: []string{"--help"}, code: exitOK, stdout: "Use \"patron <command> -h\""},
		{name: "-h", args: []string{"-h"}, code: exitOK, stdout: "new      create a new service"},
		{name: "unknown command", args: []string{"frobnicate"}, code: exitUsage, stderr: "patron frobnicate: unknown command\nRun 'patron help' for usage.\n"},
		{name: "version", args: []string{"version"}, code: exitOK, stdout: "patron devel\n"},
		{name: "new -h", args: []string{"new", "-h"}, code: exitOK, stderr: "usage: patron new --module path"},
		{name: "new --help lists flags", args: []string{"new", "--help"}, code: exitOK, stderr: "  -sql postgres\n"},
		{name: "traces -h", args: []string{"traces", "-h"}, code: exitOK, stderr: "usage: patron traces"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, stdout, stderr := runCLI(t, tt.args...)
			if code != tt.code {
				t.Errorf("exit code = %d, want %d", code, tt.code)
			}
			if !strings.Contains(stdout, tt.stdout) {
				t.Errorf("stdout = %q, want it to contain %q", stdout, tt.stdout)
			}
			if !strings.Contains(stderr, tt.stderr) {
				t.Errorf("stderr = %q, want it to contain %q", stderr, tt.stderr)
			}
			// Help asked for goes to stdout only; errors to stderr only.
			if tt.stdout != "" && stderr != "" {
				t.Errorf("stderr = %q, want nothing", stderr)
			}
			if tt.code == exitUsage && stdout != "" {
				t.Errorf("stdout = %q, want nothing on a usage error", stdout)
			}
		})
	}
}

func TestNewUsageErrors(t *testing.T) {
	tests := []struct {
		name string
		args []string
		msg  string
	}{
		{name: "unknown flag", args: []string{"--module", "example.com/x", "--mongo", "dir"}, msg: "flag provided but not defined: -mongo"},
		{name: "missing dir", args: []string{"--module", "example.com/x"}, msg: "patron new: missing dir"},
		{name: "missing module", args: []string{"dir"}, msg: "patron new: --module is required"},
		{name: "bad sql", args: []string{"--module", "example.com/x", "--sql", "oracle", "dir"}, msg: `--sql "oracle": want postgres or mysql`},
		{name: "sql without value", args: []string{"--module", "example.com/x", "--sql"}, msg: "flag needs an argument: -sql"},
		{name: "two dirs", args: []string{"--module", "example.com/x", "a", "b"}, msg: `one dir expected, got ["a" "b"]`},
		{name: "flag after dir", args: []string{"--module", "example.com/x", "dir", "--http"}, msg: `flags must come before dir: ["--http"]`},
		{name: "bad bool value", args: []string{"--module", "example.com/x", "--http=maybe", "dir"}, msg: `invalid boolean value "maybe" for -http`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			for i, a := range tt.args {
				if a == "dir" {
					tt.args[i] = filepath.Join(dir, "svc")
				}
			}
			code, stdout, stderr := runCLI(t, append([]string{"new"}, tt.args...)...)
			if code != exitUsage {
				t.Errorf("exit code = %d, want %d", code, exitUsage)
			}
			if !strings.Contains(stderr, tt.msg) {
				t.Errorf("stderr = %q, want it to contain %q", stderr, tt.msg)
			}
			if !strings.Contains(stderr, "usage: patron new") {
				t.Errorf("stderr = %q, want the usage line", stderr)
			}
			if stdout != "" {
				t.Errorf("stdout = %q, want nothing", stdout)
			}
			if _, err := os.Stat(filepath.Join(dir, "svc")); err == nil {
				t.Error("a usage error created the directory")
			}
		})
	}
}

func TestNewInvalidModulePath(t *testing.T) {
	for _, path := range []string{
		"Example.com/ orders",   // space
		"example.com/orders/",   // trailing slash
		"/example.com/orders",   // leading slash
		"example.com/../orders", // dot-dot element
		"example.com/orders/v1", // v1 is not a major version suffix
		"example.com/orders/v0",
		"-example.com/orders", // leading dash
		"example.com/or:ders", // invalid character
	} {
		t.Run(path, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "svc")
			code, stdout, stderr := runCLI(t, "new", "--module", path, dir)
			if code != exitUsage {
				t.Errorf("exit code = %d, want %d", code, exitUsage)
			}
			if !strings.Contains(stderr, "patron new: invalid module path") {
				t.Errorf("stderr = %q, want an invalid module path error", stderr)
			}
			if stdout != "" {
				t.Errorf("stdout = %q, want nothing", stdout)
			}
			if _, err := os.Stat(dir); err == nil {
				t.Error("an invalid module path created the directory")
			}
		})
	}
}

// TestNewValidModulePaths checks paths go mod init accepts, including ones
// without a dot (local modules) and with a major version suffix.
func TestNewValidModulePaths(t *testing.T) {
	for path, name := range map[string]string{
		"orders":                        "orders",
		"example.com/orders/v2":         "orders",
		"github.com/Acme/Order_Service": "order-service",
		"gopkg.in/orders.v3":            "orders",
	} {
		t.Run(path, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "svc")
			code, _, stderr := runCLI(t, "new", "--module", path, dir)
			if code != exitOK {
				t.Fatalf("exit code = %d, want 0; stderr: %s", code, stderr)
			}
			if gomod := readFile(t, dir, "go.mod"); !strings.HasPrefix(gomod, "module "+path+"\n") {
				t.Errorf("go.mod = %q, want module %s", gomod, path)
			}
			if main := readFile(t, dir, "main.go"); !strings.Contains(main, `patron.New("`+name+`", version`) {
				t.Errorf("main.go does not name the service %q", name)
			}
		})
	}
}

func TestNewOccupiedDirectory(t *testing.T) {
	dir := t.TempDir()
	mine := filepath.Join(dir, "notes.txt")
	if err := os.WriteFile(mine, []byte("mine"), 0o644); err != nil {
		t.Fatal(err)
	}

	code, stdout, stderr := runCLI(t, "new", "--module", "example.com/orders", dir)
	if code != exitUsage {
		t.Errorf("exit code = %d, want %d", code, exitUsage)
	}
	if want := dir + " is not empty (use --force"; !strings.Contains(stderr, want) {
		t.Errorf("stderr = %q, want it to contain %q", stderr, want)
	}
	if stdout != "" {
		t.Errorf("stdout = %q, want nothing", stdout)
	}
	if _, err := os.Stat(filepath.Join(dir, "main.go")); err == nil {
		t.Fatal("main.go written into an occupied directory without --force")
	}

	code, stdout, stderr = runCLI(t, "new", "--module", "example.com/orders", "--force", dir)
	if code != exitOK {
		t.Fatalf("with --force: exit code = %d, want 0; stderr: %s", code, stderr)
	}
	if !strings.Contains(stdout, "\tmain.go\n") {
		t.Errorf("stdout = %q, want main.go listed", stdout)
	}
	if b, err := os.ReadFile(mine); err != nil || string(b) != "mine" {
		t.Errorf("--force touched a file the template does not write: %q, %v", b, err)
	}
	if _, err := os.Stat(filepath.Join(dir, "main.go")); err != nil {
		t.Errorf("--force: %v", err)
	}

	// Writing over a generated service again with --force works too.
	if code, _, stderr := runCLI(t, "new", "--module", "example.com/orders", "--force", "--grpc", dir); code != exitOK {
		t.Fatalf("second --force: exit code = %d; stderr: %s", code, stderr)
	}
}

// fakeCheckout writes a directory that passes for a Patron checkout (its
// go.mod declares Patron's module) but holds no package, and a go.sum.
func fakeCheckout(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "go.mod"), []byte("module "+patronModule+"\n\ngo 1.26.0\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "go.sum"), []byte("example.com/sum v1.0.0 h1:seed=\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

// TestNewTidyFailure checks that --tidy runs go mod tidy in the new service
// and reports its failure: the checkout given holds none of the packages
// the service imports, and the module proxy is off.
func TestNewTidyFailure(t *testing.T) {
	if _, err := exec.LookPath("go"); err != nil {
		t.Skip("no go command on PATH")
	}
	t.Setenv("GOPROXY", "off")
	t.Setenv("GOFLAGS", "-mod=mod")
	t.Setenv("GOWORK", "off")
	dir := filepath.Join(t.TempDir(), "svc")
	code, stdout, stderr := runCLI(t, "new", "--module", "example.com/orders", "--patron", fakeCheckout(t), "--tidy", dir)
	if code != exitError {
		t.Errorf("exit code = %d, want %d", code, exitError)
	}
	if !strings.Contains(stdout, "running go mod tidy\n") {
		t.Errorf("stdout = %q, want it to say it runs go mod tidy", stdout)
	}
	if want := "patron new: go mod tidy in " + dir; !strings.Contains(stderr, want) {
		t.Errorf("stderr = %q, want it to contain %q", stderr, want)
	}
	if _, err := os.Stat(filepath.Join(dir, "main.go")); err != nil {
		t.Errorf("the files should stay when tidy fails: %v", err)
	}
}

// TestNewPatronFlag checks --patron from a directory outside any checkout:
// go.mod replaces Patron with the checkout given, go.sum starts from the
// checkout's, and the README says how to switch to a published version.
func TestNewPatronFlag(t *testing.T) {
	checkout := fakeCheckout(t)
	t.Chdir(t.TempDir())
	dir := filepath.Join(t.TempDir(), "svc")
	code, stdout, stderr := runCLI(t, "new", "--module", "example.com/orders", "--patron", checkout, dir)
	if code != exitOK {
		t.Fatalf("exit code = %d, want 0; stderr: %s", code, stderr)
	}
	if want := "Patron comes from the checkout in " + checkout; !strings.Contains(stdout, want) {
		t.Errorf("stdout = %q, want it to contain %q", stdout, want)
	}
	gomod := readFile(t, dir, "go.mod")
	for _, line := range []string{"\nrequire github.com/patron-go/patron " + replacedVersion + "\n", "\nreplace github.com/patron-go/patron => " + checkout + "\n"} {
		if !strings.Contains(gomod, line) {
			t.Errorf("go.mod lacks %q:\n%s", line, gomod)
		}
	}
	if sum := readFile(t, dir, "go.sum"); sum != readFile(t, checkout, "go.sum") {
		t.Errorf("go.sum = %q, want the checkout's", sum)
	}
	readme := readFile(t, dir, "README.md")
	for _, s := range []string{"go mod edit -dropreplace=github.com/patron-go/patron\ngo get github.com/patron-go/patron@latest", "go -C " + checkout + " run ./cmd/patron traces"} {
		if !strings.Contains(readme, s) {
			t.Errorf("README.md lacks %q", s)
		}
	}

	// A path with a space is quoted in go.mod.
	spaced := filepath.Join(t.TempDir(), "my patron")
	if err := os.CopyFS(spaced, os.DirFS(checkout)); err != nil {
		t.Fatal(err)
	}
	dir = filepath.Join(t.TempDir(), "svc")
	if code, _, stderr := runCLI(t, "new", "--module", "example.com/orders", "--patron", spaced, dir); code != exitOK {
		t.Fatalf("exit code = %d, want 0; stderr: %s", code, stderr)
	}
	if gomod, want := readFile(t, dir, "go.mod"), "=> \""+spaced+"\"\n"; !strings.Contains(gomod, want) {
		t.Errorf("go.mod = %q, want it to contain %q", gomod, want)
	}
}

func TestNewPatronFlagNotACheckout(t *testing.T) {
	other := t.TempDir()
	if err := os.WriteFile(filepath.Join(other, "go.mod"), []byte("module example.com/other\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for name, tt := range map[string]struct{ dir, msg string }{
		"no go.mod":    {t.TempDir(), "not a Patron checkout: no go.mod in "},
		"other module": {other, `declares module "example.com/other", want github.com/patron-go/patron`},
		"missing":      {filepath.Join(other, "nope"), "not a Patron checkout: no go.mod in "},
	} {
		t.Run(name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "svc")
			code, stdout, stderr := runCLI(t, "new", "--module", "example.com/orders", "--patron", tt.dir, dir)
			if code != exitUsage {
				t.Errorf("exit code = %d, want %d", code, exitUsage)
			}
			if want := "patron new: --patron " + tt.dir + ": "; !strings.Contains(stderr, want) || !strings.Contains(stderr, tt.msg) {
				t.Errorf("stderr = %q, want %q and %q", stderr, want, tt.msg)
			}
			if stdout != "" {
				t.Errorf("stdout = %q, want nothing", stdout)
			}
			if _, err := os.Stat(dir); err == nil {
				t.Error("a bad --patron created the directory")
			}
		})
	}
}

func TestResolvePatron(t *testing.T) {
	root := repoRoot(t)
	outside := t.TempDir()
	tests := []struct {
		name        string
		flagDir     string
		released    string
		candidates  []string
		wantVersion string
		wantDir     string
		wantErr     error
	}{
		{name: "flag wins over a released version", flagDir: root, released: "v0.3.0", wantVersion: replacedVersion, wantDir: root},
		{name: "released version", released: "v0.3.0", candidates: []string{root}, wantVersion: "v0.3.0"},
		{name: "working directory in a checkout", candidates: []string{filepath.Join(root, "cmd", "patron")}, wantVersion: replacedVersion, wantDir: root},
		{name: "source directory after an outside working directory", candidates: []string{outside, filepath.Join(root, "traceview")}, wantVersion: replacedVersion, wantDir: root},
		// examples/ is a module of its own: its go.mod is found first and is not Patron's.
		{name: "another module inside a checkout", candidates: []string{filepath.Join(root, "examples", "demo")}, wantErr: errNoPatron},
		{name: "nothing", candidates: []string{outside, ""}, wantErr: errNoPatron},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			version, dir, err := resolvePatron(tt.flagDir, tt.released, tt.candidates...)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("err = %v, want %v", err, tt.wantErr)
			}
			if version != tt.wantVersion || dir != tt.wantDir {
				t.Errorf("got (%q, %q), want (%q, %q)", version, dir, tt.wantVersion, tt.wantDir)
			}
		})
	}
}

func TestNewDirIsAFile(t *testing.T) {
	f := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(f, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	code, _, stderr := runCLI(t, "new", "--module", "example.com/orders", "--force", f)
	if code != exitUsage || !strings.Contains(stderr, "exists and is not a directory") {
		t.Errorf("exit code = %d, stderr = %q; want 2 and a not-a-directory error", code, stderr)
	}
}

func TestServiceName(t *testing.T) {
	for path, want := range map[string]string{
		"example.com/orders":             "orders",
		"example.com/orders/v2":          "orders",
		"github.com/acme/Order_Service":  "order-service",
		"example.com/my.svc~x":           "my-svc-x",
		"example.com/9lives":             "service-9lives",
		"orders":                         "orders",
		"gopkg.in/yaml.v3":               "yaml",
		"example.com/team/payments-api/": "payments-api", // refused earlier, but still sane
	} {
		if got := serviceName(path); got != want {
			t.Errorf("serviceName(%q) = %q, want %q", path, got, want)
		}
	}
}

// combination is a set of patron new flags and what it must generate.
type combination struct {
	name  string
	flags []string
	files []string // besides the common ones
	deps  []string // docker-compose services besides the service itself
}

// commonFiles are written for every combination; go.sum is the checkout's
// (tests run in one).
var commonFiles = []string{".dockerignore", ".gitignore", "Dockerfile", "Makefile", "README.md", "docker-compose.yml", "go.mod", "go.sum", "main.go"}

var combinations = []combination{
	{
		name: "http", flags: []string{"--http"},
		files: []string{"http.go", "http_test.go"},
	},
	{
		name: "default is http", flags: nil,
		files: []string{"http.go", "http_test.go"},
	},
	{
		name: "grpc", flags: []string{"--grpc"},
		files: []string{"grpc.go", "grpc_test.go", "proto/greeter/v1/greeter.pb.go", "proto/greeter/v1/greeter.proto", "proto/greeter/v1/greeter_grpc.pb.go"},
	},
	{
		name: "http kafka postgres redis", flags: []string{"--http", "--kafka", "--sql", "postgres", "--redis"},
		files: []string{"event.go", "event_test.go", "http.go", "http_test.go", "kafka.go", "kafka_test.go"},
		deps:  []string{"kafka", "postgres", "redis"},
	},
	{
		name: "grpc amqp sqs", flags: []string{"--grpc", "--amqp", "--sqs"},
		files: []string{"amqp.go", "amqp_test.go", "event.go", "event_test.go", "goaws.yaml", "grpc.go", "grpc_test.go", "proto/greeter/v1/greeter.pb.go", "proto/greeter/v1/greeter.proto", "proto/greeter/v1/greeter_grpc.pb.go", "sqs.go", "sqs_test.go"},
		deps:  []string{"goaws", "rabbitmq"},
	},
	{
		name: "all", flags: []string{"--http", "--grpc", "--kafka", "--amqp", "--sqs", "--sql", "mysql", "--redis"},
		files: []string{"amqp.go", "amqp_test.go", "event.go", "event_test.go", "goaws.yaml", "grpc.go", "grpc_test.go", "http.go", "http_test.go", "kafka.go", "kafka_test.go", "proto/greeter/v1/greeter.pb.go", "proto/greeter/v1/greeter.proto", "proto/greeter/v1/greeter_grpc.pb.go", "sqs.go", "sqs_test.go"},
		deps:  []string{"goaws", "kafka", "mysql", "rabbitmq", "redis"},
	},
}

// generateInto runs patron new for c, with extra flags, into a new
// directory and returns it.
func generateInto(t *testing.T, c combination, extra ...string) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "orders")
	args := append([]string{"new", "--module", "example.com/orders"}, c.flags...)
	args = append(args, extra...)
	code, stdout, stderr := runCLI(t, append(args, dir)...)
	if code != exitOK {
		t.Fatalf("patron new %q: exit code %d; stdout:\n%s\nstderr:\n%s", args[1:], code, stdout, stderr)
	}
	next := "\nnext:\n\tcd " + dir + "\n\tgo mod tidy\n\tgo test ./...\n\tgo run .\n"
	if slices.Contains(extra, "--tidy") {
		next = "\nnext:\n\tcd " + dir + "\n\tgo test ./...\n\tgo run .\n"
	} else if stderr != "" {
		t.Errorf("stderr = %q, want nothing", stderr)
	}
	for _, want := range []string{"created " + dir + " (module example.com/orders):\n", next} {
		if !strings.Contains(stdout, want) {
			t.Errorf("stdout = %q, want it to contain %q", stdout, want)
		}
	}
	return dir
}

// TestNewGeneratesFiles checks, without building anything, what each
// combination writes: the files, the go.mod, the compose services and Go
// sources that parse.
func TestNewGeneratesFiles(t *testing.T) {
	for _, c := range combinations {
		t.Run(c.name, func(t *testing.T) {
			dir := generateInto(t, c)
			var got []string
			err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
				if err != nil || d.IsDir() {
					return err
				}
				rel, _ := filepath.Rel(dir, p)
				got = append(got, filepath.ToSlash(rel))
				b, err := os.ReadFile(p)
				if err != nil {
					return err
				}
				if bytes.Contains(b, []byte("{{")) && !strings.HasSuffix(p, ".pb.go") {
					t.Errorf("%s: template leftovers", rel)
				}
				if strings.HasSuffix(p, ".go") {
					if _, err := parser.ParseFile(token.NewFileSet(), p, b, parser.ParseComments); err != nil {
						t.Errorf("%s does not parse: %v", rel, err)
					}
				}
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			want := append(slices.Clone(commonFiles), c.files...)
			slices.Sort(want)
			slices.Sort(got)
			if !slices.Equal(got, want) {
				t.Errorf("files:\n got %q\nwant %q", got, want)
			}

			// Run from a checkout, patron new takes Patron from it.
			gomod := readFile(t, dir, "go.mod")
			for _, line := range []string{"module example.com/orders\n", "\ngo 1.26.0\n", "\nrequire github.com/patron-go/patron " + replacedVersion + "\n", "\nreplace github.com/patron-go/patron => " + repoRoot(t) + "\n"} {
				if !strings.Contains(gomod, line) {
					t.Errorf("go.mod lacks %q:\n%s", line, gomod)
				}
			}
			docker := readFile(t, dir, "Dockerfile")
			for _, s := range []string{"FROM golang:1.26 AS build", "FROM gcr.io/distroless/static", "COPY --from=build", "USER nonroot"} {
				if !strings.Contains(docker, s) {
					t.Errorf("Dockerfile lacks %q", s)
				}
			}
			// make run builds, then runs: go run exits 1 on Ctrl-C.
			if mk := readFile(t, dir, "Makefile"); !strings.Contains(mk, "\nrun:\n\tgo build -ldflags \"$(LDFLAGS)\" -o bin/$(BINARY) .\n\t./bin/$(BINARY)\n") {
				t.Errorf("Makefile's run target does not build and run bin/orders:\n%s", mk)
			}
			readme := readFile(t, dir, "README.md")
			for _, s := range []string{"```sh\ngo run .\n```", "```sh\ngo test ./...\n```"} {
				if !strings.Contains(readme, s) {
					t.Errorf("README.md lacks %q", s)
				}
			}
			compose := readFile(t, dir, "docker-compose.yml")
			for _, svc := range []string{"goaws", "kafka", "mysql", "postgres", "rabbitmq", "redis"} {
				has := strings.Contains(compose, "\n  "+svc+":\n")
				if want := slices.Contains(c.deps, svc); has != want {
					t.Errorf("docker-compose.yml has service %s: %t, want %t", svc, has, want)
				}
			}
			if !strings.Contains(compose, "\n  orders:\n    build: .\n") {
				t.Errorf("docker-compose.yml lacks the service itself:\n%s", compose)
			}
		})
	}
}

func readFile(t *testing.T, dir, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, name))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// repoRoot is the root of the Patron module this test runs in.
func repoRoot(t *testing.T) string {
	t.Helper()
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(readFile(t, root, "go.mod"), "module github.com/patron-go/patron\n") {
		t.Fatalf("%s is not Patron's module root", root)
	}
	return root
}

// TestGeneratedServicesPass is the end-to-end check of the path a user of a
// checkout takes: patron new --tidy, run from this checkout (or given it
// with --patron), then make vet and make test in the generated service.
// Nothing but the go command's usual sources is used: the module cache that
// building Patron filled, and the module proxy for what is missing.
func TestGeneratedServicesPass(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a module per combination; skipped with -short")
	}
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go command on PATH")
	}
	makeTool, _ := exec.LookPath("make")
	root := repoRoot(t)
	// patron new --tidy runs go mod tidy with this process's environment.
	t.Setenv("GOFLAGS", strings.TrimSpace(os.Getenv("GOFLAGS")+" -mod=mod"))
	t.Setenv("GOWORK", "off")
	t.Setenv("GOTOOLCHAIN", "local")
	for i, c := range combinations {
		if c.name == "default is http" { // the same files as "http"
			continue
		}
		extra := []string{"--tidy"}
		if i%2 == 1 {
			extra = append(extra, "--patron", root)
		}
		t.Run(c.name, func(t *testing.T) {
			dir := generateInto(t, c, extra...)
			if gomod := readFile(t, dir, "go.mod"); !strings.Contains(gomod, "\nreplace github.com/patron-go/patron => "+root+"\n") {
				t.Fatalf("go.mod does not replace Patron with %s:\n%s", root, gomod)
			}
			steps := [][]string{{goTool, "vet", "./..."}, {goTool, "test", "-count=1", "./..."}}
			if makeTool != "" {
				steps = [][]string{{makeTool, "vet"}, {makeTool, "test"}}
			}
			for _, args := range steps {
				ctx, cancel := context.WithTimeout(t.Context(), 4*time.Minute)
				cmd := exec.CommandContext(ctx, args[0], args[1:]...)
				cmd.Dir = dir
				out, err := cmd.CombinedOutput()
				cancel()
				if err != nil {
					t.Fatalf("%s in %s: %v\n%s", strings.Join(args, " "), dir, err, out)
				}
				t.Logf("%s:\n%s", strings.Join(args, " "), out)
			}
		})
	}
}
