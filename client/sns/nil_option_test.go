package sns_test

import (
	"testing"

	"github.com/patron-go/patron/client/sns"
	"github.com/patron-go/patron/patrontest/sqstest"
)

// A nil option is refused with an error that names it, never a panic.
func TestNilOption(t *testing.T) {
	if _, err := sns.New(sqstest.NewSNSClient("http://127.0.0.1:1"), nil); err == nil || err.Error() != "sns: option 1 of 1 is nil" {
		t.Errorf("sns.New with a nil option: %v, want %q", err, "sns: option 1 of 1 is nil")
	}
}
