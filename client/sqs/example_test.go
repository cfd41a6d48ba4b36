package sqs_test

import (
	"context"
	"log"

	"github.com/aws/aws-sdk-go-v2/config"
	awssqs "github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/patron-go/patron/client/sqs"
)

// Send a message; its attributes carry the trace context and correlation ID
// of ctx. AWS_ENDPOINT_URL_SQS points the SDK at an emulator.
func Example() {
	ctx := context.Background()
	awsCfg, err := config.LoadDefaultConfig(ctx)
	if err != nil {
		log.Fatal(err)
	}
	pub, err := sqs.New(awssqs.NewFromConfig(awsCfg))
	if err != nil {
		log.Fatal(err)
	}
	id, err := pub.Send(ctx, "https://sqs.eu-west-1.amazonaws.com/123456789012/orders", sqs.Message{Body: `{"id":1}`})
	if err != nil {
		log.Fatal(err)
	}
	log.Println("sent", id)
}
