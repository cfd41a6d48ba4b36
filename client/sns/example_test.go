package sns_test

import (
	"context"
	"log"

	"github.com/aws/aws-sdk-go-v2/config"
	awssns "github.com/aws/aws-sdk-go-v2/service/sns"

	"github.com/patron-go/patron/client/sns"
)

// Publish to a topic; subscribed SQS queues consumed by Patron continue the
// trace. AWS_ENDPOINT_URL_SNS points the SDK at an emulator.
func Example() {
	ctx := context.Background()
	awsCfg, err := config.LoadDefaultConfig(ctx)
	if err != nil {
		log.Fatal(err)
	}
	pub, err := sns.New(awssns.NewFromConfig(awsCfg))
	if err != nil {
		log.Fatal(err)
	}
	id, err := pub.Publish(ctx, "arn:aws:sns:eu-west-1:123456789012:orders", sns.Message{Body: `{"id":1}`})
	if err != nil {
		log.Fatal(err)
	}
	log.Println("published", id)
}
