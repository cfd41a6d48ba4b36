// Package sqstest runs the goaws SQS/SNS emulator (github.com/Admiral-Piett/goaws
// v0.5.4) inside the current process on a loopback listener, for Patron's
// tests and the demo launcher, and builds AWS SDK v2 clients pointed at it.
//
// goaws keeps its queues, topics and configuration in package-level
// variables, so only one Emulator can run in a process at a time: Start
// fails while another one runs, and tests share one through Shared and use
// unique queue and topic names (UniqueName).
package sqstest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/Admiral-Piett/goaws/app/gosqs"
	"github.com/Admiral-Piett/goaws/app/models"
	"github.com/Admiral-Piett/goaws/app/router"
	"github.com/sirupsen/logrus"
)

// AccountID is the account that the emulator puts in queue URLs and ARNs.
const AccountID = "100010001000"

// Region is the region the clients built here sign requests for. goaws
// ignores it; its ARNs carry an empty region.
const Region = "us-east-1"

// running guards goaws's own package-level state: it is the one piece of
// mutable state here, forced by the emulator, and it only says whether that
// state is in use.
var running atomic.Bool

// Emulator is a running goaws server. Close stops it and forgets every queue
// and topic.
type Emulator struct {
	srv      *http.Server
	ln       net.Listener
	quit     chan bool
	tasks    chan struct{}
	served   chan struct{}
	endpoint string
	guard    *guard
	once     sync.Once
}

// Start runs the emulator on addr ("127.0.0.1:0" picks a free port). goaws
// logs through logrus; Start sends those logs to io.Discard, because goaws
// logs message bodies and warns on every empty receive.
func Start(ctx context.Context, addr string) (*Emulator, error) {
	if !running.CompareAndSwap(false, true) {
		return nil, errors.New("sqstest: an emulator already runs in this process (goaws keeps global state)")
	}
	lc := net.ListenConfig{}
	ln, err := lc.Listen(ctx, "tcp", addr)
	if err != nil {
		running.Store(false)
		return nil, fmt.Errorf("sqstest: listening on %s: %w", addr, err)
	}
	tcp, ok := ln.Addr().(*net.TCPAddr)
	if !ok {
		_ = ln.Close()
		running.Store(false)
		return nil, fmt.Errorf("sqstest: %s is not a TCP address", ln.Addr())
	}
	host := tcp.IP.String()
	if tcp.IP.IsUnspecified() {
		host = "127.0.0.1"
	}
	port := strconv.Itoa(tcp.Port)

	logrus.SetOutput(io.Discard)
	resetState()
	models.CurrentEnvironment = models.Environment{
		Host: host,
		Port: port,
		// An empty region keeps queue URLs at http://host:port/...;
		// goaws would otherwise prefix the host with the region.
		Region:    "",
		AccountID: AccountID,
		QueueAttributeDefaults: models.EnvQueueAttributes{
			VisibilityTimeout:      30,
			MaximumMessageSize:     262144,
			MessageRetentionPeriod: 345600,
		},
	}

	g := newGuard(router.New())
	e := &Emulator{
		srv: &http.Server{
			Handler:           g,
			ReadHeaderTimeout: 10 * time.Second,
		},
		ln:       ln,
		quit:     make(chan bool),
		tasks:    make(chan struct{}),
		served:   make(chan struct{}),
		endpoint: "http://" + net.JoinHostPort(host, port),
		guard:    g,
	}
	go e.periodic()
	go e.serve()
	return e, nil
}

// periodic runs goaws's visibility and redrive task (it makes messages
// whose visibility timeout expired visible again and moves them to the
// dead-letter queue), as goaws's own main does.
func (e *Emulator) periodic() {
	defer close(e.tasks)
	gosqs.PeriodicTasks(time.Second, e.quit)
}

func (e *Emulator) serve() {
	defer close(e.served)
	_ = e.srv.Serve(e.ln)
}

// Endpoint is the base URL to give the SDK clients (BaseEndpoint, or
// AWS_ENDPOINT_URL for config.LoadDefaultConfig).
func (e *Emulator) Endpoint() string { return e.endpoint }

// Close stops the server and the emulator's background task, and clears
// its queues and topics so that a later Start begins empty.
func (e *Emulator) Close() error {
	var err error
	e.once.Do(func() {
		err = e.srv.Close()
		<-e.served
		close(e.quit)
		<-e.tasks
		resetState()
		running.Store(false)
	})
	return err
}

func resetState() {
	models.SyncQueues.Lock()
	models.SyncQueues.Queues = make(map[string]*models.Queue)
	models.SyncQueues.Unlock()
	models.SyncTopics.Lock()
	models.SyncTopics.Topics = make(map[string]*models.Topic)
	models.SyncTopics.Unlock()
}
