package main

import (
	"errors"
	"regexp"
	"strings"
	"time"
	"unicode/utf8"
)

// Kafka topics of the chat. Every message flows through them once: chat-api
// publishes to topicMessage, giphy answers /giphy commands on
// topicMessageUpdated, and storage announces what it wrote on
// topicMessageStored, which chat-api turns into Server-Sent Events.
const (
	topicMessage        = "message"
	topicMessageUpdated = "message-updated"
	topicMessageStored  = "message-stored"
)

// message is the one schema of the chat, on the wire (Kafka, HTTP) and in
// Redis.
type message struct {
	ID     string    `json:"id"`
	Room   string    `json:"room"`
	Author string    `json:"author"`
	Text   string    `json:"text"`
	Image  string    `json:"image,omitempty"`
	Time   time.Time `json:"time"`
}

const (
	maxAuthorLen = 64
	maxTextLen   = 1000
)

// roomPattern keeps room names safe to use in Redis keys and URLs.
var roomPattern = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)

func validRoom(room string) bool { return roomPattern.MatchString(room) }

// validate checks what a client sent: the rest of a message is set by
// chat-api.
func (m *message) validate() error {
	m.Author = strings.TrimSpace(m.Author)
	m.Text = strings.TrimSpace(m.Text)
	switch {
	case !validRoom(m.Room):
		return errors.New("room must be 1 to 64 letters, digits, '-' or '_'")
	case m.Author == "" || utf8.RuneCountInString(m.Author) > maxAuthorLen:
		return errors.New("author must be 1 to 64 characters")
	case m.Text == "" || utf8.RuneCountInString(m.Text) > maxTextLen:
		return errors.New("text must be 1 to 1000 characters")
	case !utf8.ValidString(m.Author) || !utf8.ValidString(m.Text):
		return errors.New("author and text must be UTF-8")
	}
	return nil
}

// giphyWord returns the word of a "/giphy <word>" command.
func giphyWord(text string) (string, bool) {
	rest, ok := strings.CutPrefix(text, "/giphy ")
	if !ok {
		return "", false
	}
	word, _, _ := strings.Cut(strings.TrimSpace(rest), " ")
	return word, word != ""
}
