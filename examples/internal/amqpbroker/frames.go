package amqpbroker

import (
	"encoding/binary"
)

// Frames are built straight into the outgoing buffer: beginMethod writes a
// frame header with a zero size, the caller appends the arguments, and
// endFrame patches the size and appends the frame-end octet.

func beginFrame(dst []byte, typ uint8, ch uint16) (*encoder, int) {
	start := len(dst)
	dst = append(dst, typ, byte(ch>>8), byte(ch), 0, 0, 0, 0)
	return &encoder{b: dst}, start
}

func beginMethod(dst []byte, ch, class, method uint16) (*encoder, int) {
	e, start := beginFrame(dst, frameMethod, ch)
	e.u16(class)
	e.u16(method)
	return e, start
}

func (e *encoder) endFrame(start int) []byte {
	binary.BigEndian.PutUint32(e.b[start+3:start+7], uint32(len(e.b)-start-7))
	return append(e.b, frameEnd)
}

// appendContent appends the content header and as many body frames as the
// negotiated frame size needs.
func appendContent(dst []byte, ch uint16, frameMax uint32, props []byte, body []byte) []byte {
	e, start := beginFrame(dst, frameHeader, ch)
	e.u16(classBasic)
	e.u16(0) // weight
	e.u64(uint64(len(body)))
	e.b = append(e.b, props...)
	dst = e.endFrame(start)
	chunk := int(frameMax) - frameOverhead
	if frameMax == 0 || chunk <= 0 {
		chunk = len(body)
	}
	for len(body) > 0 {
		n := min(chunk, len(body))
		e, start = beginFrame(dst, frameBody, ch)
		e.b = append(e.b, body[:n]...)
		dst = e.endFrame(start)
		body = body[n:]
	}
	return dst
}

func appendHeartbeat(dst []byte) []byte {
	return append(dst, frameHeartbeat, 0, 0, 0, 0, 0, 0, frameEnd)
}

// Class and method ids (AMQP 0.9.1 XML specification).
const (
	classConnection = 10
	classChannel    = 20
	classExchange   = 40
	classQueue      = 50
	classBasic      = 60
	classConfirm    = 85
	classTx         = 90
)

func methodID(class, method uint16) uint32 { return uint32(class)<<16 | uint32(method) }

var (
	connectionStartOk   = methodID(classConnection, 11)
	connectionTuneOk    = methodID(classConnection, 31)
	connectionOpen      = methodID(classConnection, 40)
	connectionClose     = methodID(classConnection, 50)
	connectionCloseOk   = methodID(classConnection, 51)
	connectionBlocked   = methodID(classConnection, 60)
	connectionUnblocked = methodID(classConnection, 61)
	connectionUpdSecret = methodID(classConnection, 70)

	channelOpen    = methodID(classChannel, 10)
	channelFlow    = methodID(classChannel, 20)
	channelFlowOk  = methodID(classChannel, 21)
	channelClose   = methodID(classChannel, 40)
	channelCloseOk = methodID(classChannel, 41)

	exchangeDeclare = methodID(classExchange, 10)
	exchangeDelete  = methodID(classExchange, 20)
	exchangeBind    = methodID(classExchange, 30)
	exchangeUnbind  = methodID(classExchange, 40)

	queueDeclare = methodID(classQueue, 10)
	queueBind    = methodID(classQueue, 20)
	queuePurge   = methodID(classQueue, 30)
	queueDelete  = methodID(classQueue, 40)
	queueUnbind  = methodID(classQueue, 50)

	basicQos          = methodID(classBasic, 10)
	basicConsume      = methodID(classBasic, 20)
	basicCancel       = methodID(classBasic, 30)
	basicCancelOk     = methodID(classBasic, 31)
	basicPublish      = methodID(classBasic, 40)
	basicGet          = methodID(classBasic, 70)
	basicAck          = methodID(classBasic, 80)
	basicReject       = methodID(classBasic, 90)
	basicRecoverAsync = methodID(classBasic, 100)
	basicRecover      = methodID(classBasic, 110)
	basicNack         = methodID(classBasic, 120)

	confirmSelect = methodID(classConfirm, 10)
)
