package kafkaheader_test

import (
	"errors"
	"testing"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/patron-go/patron/internal/kafkaheader"
)

func TestForeachKey(t *testing.T) {
	hs := []kgo.RecordHeader{{Key: "a", Value: []byte("1")}, {Key: "b", Value: nil}, {Key: "c", Value: []byte("3")}}
	var got []string
	stop := errors.New("stop")
	err := kafkaheader.Carrier{Headers: &hs}.ForeachKey(func(k, v string) error {
		got = append(got, k+"="+v)
		if k == "b" {
			return stop
		}
		return nil
	})
	if !errors.Is(err, stop) || len(got) != 2 || got[0] != "a=1" || got[1] != "b=" {
		t.Fatalf("ForeachKey = %v, visited %v", err, got)
	}
	if err := (kafkaheader.Carrier{}).ForeachKey(func(string, string) error { return stop }); err != nil {
		t.Fatalf("nil carrier: %v", err)
	}
}
