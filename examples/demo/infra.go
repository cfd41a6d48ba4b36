package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sns"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/patron-go/patron/examples/internal/amqpbroker"
	"github.com/patron-go/patron/patrontest/kafkatest"
	"github.com/patron-go/patron/patrontest/sqstest"
	"github.com/patron-go/patron/traceview"
)

// infra is what the chain needs besides its own services: brokers, stores
// and the trace viewer. Each piece is embedded unless a real server already
// answers on its usual address (or external mode asks for those).
type infra struct {
	viewer     *traceview.Viewer
	viewerDone chan error
	kafka      *kafkatest.Cluster
	sqs        *sqstest.Emulator
	redis      *miniredis.Miniredis
	amqp       *amqpbroker.Broker

	uiAddr, otlpHTTPAddr string
	kafkaAddr            string
	awsEndpoint          string
	redisAddr            string
	amqpURL              string
	snsTopicARN          string
	notes                []string
	cancel               context.CancelFunc
}

func answers(addr string) bool {
	c, err := net.DialTimeout("tcp", addr, 500*time.Millisecond)
	if err != nil {
		return false
	}
	_ = c.Close()
	return true
}

func startInfra(ctx context.Context, cfg config, logger *slog.Logger) (*infra, error) {
	in := &infra{}
	ctx, in.cancel = context.WithCancel(context.WithoutCancel(ctx))
	ok := false
	defer func() {
		if !ok {
			_ = in.close()
		}
	}()

	// Trace viewer first, so every service's spans have somewhere to go;
	// in external mode a running Jaeger (same query API) takes its place.
	if cfg.external && answers(cfg.uiAddr) && answers(cfg.otlpHTTPAddr) {
		in.uiAddr, in.otlpHTTPAddr = cfg.uiAddr, cfg.otlpHTTPAddr
		in.notes = append(in.notes, "traces: external Jaeger at http://"+cfg.uiAddr)
	} else if err := in.startViewer(ctx, cfg, logger); err != nil {
		return nil, err
	}

	// Kafka: no server runs here, so kfake speaks the protocol in-process.
	if cfg.external && answers(cfg.kafkaAddr) {
		in.kafkaAddr = cfg.kafkaAddr
		in.notes = append(in.notes, "Kafka: external at "+cfg.kafkaAddr)
	} else {
		opts := []kafkatest.Option{kafkatest.WithTopics(kafkaTopic)}
		if _, port, _ := net.SplitHostPort(cfg.kafkaAddr); port != "0" {
			opts = append(opts, kafkatest.WithAddr(cfg.kafkaAddr))
		}
		c, err := kafkatest.Start(opts...)
		if err != nil {
			return nil, fmt.Errorf("embedded Kafka on %s: %w", cfg.kafkaAddr, err)
		}
		in.kafka, in.kafkaAddr = c, c.Addrs()[0]
		in.notes = append(in.notes, "Kafka: embedded (kfake) at "+in.kafkaAddr)
	}

	// SQS and SNS: the goaws emulator, unless an external endpoint is given.
	if cfg.external && cfg.awsEndpoint != "" {
		in.awsEndpoint = cfg.awsEndpoint
		in.notes = append(in.notes, "SQS/SNS: external at "+cfg.awsEndpoint)
	} else {
		e, err := sqstest.Start(ctx, cfg.sqsAddr)
		if err != nil {
			return nil, fmt.Errorf("embedded SQS/SNS emulator on %s: %w", cfg.sqsAddr, err)
		}
		in.sqs, in.awsEndpoint = e, e.Endpoint()
		in.notes = append(in.notes, "SQS/SNS: embedded (goaws) at "+in.awsEndpoint)
	}
	if err := in.createAWSResources(ctx); err != nil {
		return nil, err
	}

	// Redis: the real one when it answers, else miniredis in-process.
	if answers(cfg.redisAddr) {
		in.redisAddr = cfg.redisAddr
		in.notes = append(in.notes, "Redis: running server at "+cfg.redisAddr)
	} else {
		m := miniredis.NewMiniRedis()
		if err := m.StartAddr(cfg.redisFallbackAddr); err != nil {
			return nil, fmt.Errorf("embedded Redis on %s: %w", cfg.redisFallbackAddr, err)
		}
		in.redis, in.redisAddr = m, m.Addr()
		in.notes = append(in.notes, "Redis: embedded (miniredis) at "+in.redisAddr)
	}

	// RabbitMQ: the real one when it answers, else a small in-process
	// AMQP 0.9.1 broker that speaks enough of the protocol for the chain.
	amqpHost, err := hostOfAMQP(cfg.amqpURL)
	if err != nil {
		return nil, err
	}
	if !cfg.embeddedAMQP && answers(amqpHost) {
		in.amqpURL = cfg.amqpURL
		in.notes = append(in.notes, "RabbitMQ: running server at "+amqpHost)
	} else {
		addr := amqpHost
		if cfg.embeddedAMQP {
			addr = "127.0.0.1:0"
		}
		b, err := amqpbroker.Start(addr, amqpbroker.WithLogger(logger.With("part", "amqpbroker")))
		if err != nil {
			return nil, fmt.Errorf("embedded AMQP broker on %s: %w (start RabbitMQ instead, e.g. `rabbitmq-server -detached`)", addr, err)
		}
		in.amqp, in.amqpURL = b, b.URL()
		in.notes = append(in.notes, "RabbitMQ: embedded AMQP 0.9.1 broker at "+b.Addr()+" (in memory)")
	}
	ok = true
	return in, nil
}

func (in *infra) createAWSResources(ctx context.Context) error {
	cfg := sqstest.Config(in.awsEndpoint, nil)
	sqsc := sqs.NewFromConfig(cfg)
	snsc := sns.NewFromConfig(cfg)
	q, err := sqsc.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String(sqsQueue)})
	if err != nil {
		return fmt.Errorf("creating SQS queue %s: %w", sqsQueue, err)
	}
	attrs, err := sqsc.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{
		QueueUrl: q.QueueUrl, AttributeNames: []sqstypes.QueueAttributeName{sqstypes.QueueAttributeNameQueueArn},
	})
	if err != nil {
		return fmt.Errorf("reading SQS queue %s: %w", sqsQueue, err)
	}
	t, err := snsc.CreateTopic(ctx, &sns.CreateTopicInput{Name: aws.String(snsTopic)})
	if err != nil {
		return fmt.Errorf("creating SNS topic %s: %w", snsTopic, err)
	}
	in.snsTopicARN = aws.ToString(t.TopicArn)
	_, err = snsc.Subscribe(ctx, &sns.SubscribeInput{
		TopicArn: t.TopicArn, Protocol: aws.String("sqs"),
		Endpoint:   aws.String(attrs.Attributes[string(sqstypes.QueueAttributeNameQueueArn)]),
		Attributes: map[string]string{"RawMessageDelivery": "true"},
	})
	if err != nil {
		return fmt.Errorf("subscribing queue %s to topic %s: %w", sqsQueue, snsTopic, err)
	}
	return nil
}

func (in *infra) close() error {
	var errs []error
	if in.redis != nil {
		in.redis.Close()
	}
	if in.amqp != nil {
		errs = append(errs, in.amqp.Close())
	}
	if in.sqs != nil {
		errs = append(errs, in.sqs.Close())
	}
	if in.kafka != nil {
		in.kafka.Close()
	}
	in.cancel()
	if in.viewerDone != nil {
		errs = append(errs, <-in.viewerDone)
	}
	return errors.Join(errs...)
}

// hostOfAMQP returns host:port of an amqp:// URL, with the AMQP default port.
func hostOfAMQP(raw string) (string, error) {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "amqp" && u.Scheme != "amqps") || u.Hostname() == "" {
		return "", fmt.Errorf("invalid RabbitMQ URL %q: want amqp://user:pass@host:port/", raw)
	}
	port := u.Port()
	if port == "" {
		port = "5672"
		if u.Scheme == "amqps" {
			port = "5671"
		}
	}
	return net.JoinHostPort(u.Hostname(), port), nil
}

func (in *infra) startViewer(ctx context.Context, cfg config, logger *slog.Logger) error {
	v, err := traceview.New(traceview.WithUIAddr(cfg.uiAddr), traceview.WithOTLPHTTPAddr(cfg.otlpHTTPAddr),
		traceview.WithOTLPGRPCAddr(cfg.otlpGRPCAddr), traceview.WithLogger(logger.With("part", "traceview")))
	if err != nil {
		return fmt.Errorf("trace viewer: %w", err)
	}
	in.viewer, in.viewerDone = v, make(chan error, 1)
	go func() { in.viewerDone <- v.Run(ctx) }()
	if err := v.Ready(ctx); err != nil {
		return fmt.Errorf("trace viewer: %w (is another viewer or Jaeger using ports 16686/4317/4318?)", err)
	}
	in.uiAddr, in.otlpHTTPAddr = v.Addrs().UI, v.Addrs().OTLPHTTP
	in.notes = append(in.notes, "traces: built-in viewer at http://"+in.uiAddr)
	return nil
}
