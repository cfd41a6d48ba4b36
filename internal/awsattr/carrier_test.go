package awsattr_test

import (
	"errors"
	"slices"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/patron-go/patron/internal/awsattr"
)

func text(v types.MessageAttributeValue) (string, bool) {
	return awsattr.Text(v.DataType, v.StringValue)
}

func TestCarrierHelpers(t *testing.T) {
	attrs := map[string]types.MessageAttributeValue{
		"s":   {DataType: aws.String("String"), StringValue: aws.String("v")},
		"n":   {DataType: aws.String("Number.int"), StringValue: aws.String("7")},
		"bin": {DataType: aws.String("Binary"), BinaryValue: []byte{1}},
		"bad": {DataType: aws.String("String")},
	}
	for key, want := range map[string]string{"s": "v", "n": "7", "bin": "", "bad": "", "absent": ""} {
		if got := awsattr.Get(attrs, key, text); got != want {
			t.Errorf("Get(%q) = %q, want %q", key, got, want)
		}
	}
	if keys := awsattr.Keys(attrs, text); len(keys) != 4 || !slices.Contains(keys, "bin") {
		t.Errorf("Keys = %v", keys)
	}
	got := map[string]string{}
	if err := awsattr.ForeachKey(attrs, text, func(k, v string) error { got[k] = v; return nil }); err != nil || len(got) != 2 || got["s"] != "v" || got["n"] != "7" {
		t.Errorf("ForeachKey = %v, visited %v", err, got)
	}
	stop := errors.New("stop")
	if err := awsattr.ForeachKey(attrs, text, func(string, string) error { return stop }); !errors.Is(err, stop) {
		t.Errorf("handler error not returned: %v", err)
	}
}

// The carrier helpers read the packed form too; an attribute of its own wins.
func TestCarrierHelpersPacked(t *testing.T) {
	attrs := map[string]types.MessageAttributeValue{
		awsattr.PackedKey: {DataType: aws.String("String"), StringValue: aws.String(`{"traceparent":"packed","b3":"x"}`)},
		"traceparent":     {DataType: aws.String("String"), StringValue: aws.String("own")},
	}
	if awsattr.Get(attrs, "traceparent", text) != "own" || awsattr.Get(attrs, "b3", text) != "x" {
		t.Fatalf("Get: traceparent %q, b3 %q", awsattr.Get(attrs, "traceparent", text), awsattr.Get(attrs, "b3", text))
	}
	if keys := awsattr.Keys(attrs, text); len(keys) != 3 || !slices.Contains(keys, "b3") {
		t.Errorf("Keys = %v", keys)
	}
	got := map[string]string{}
	if err := awsattr.ForeachKey(attrs, text, func(k, v string) error { got[k] = v; return nil }); err != nil || len(got) != 3 || got["traceparent"] != "own" || got["b3"] != "x" {
		t.Errorf("ForeachKey = %v, visited %v", err, got)
	}
}
