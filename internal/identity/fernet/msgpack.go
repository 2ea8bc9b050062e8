package fernet

import (
	"bytes"
	"errors"
	"io"
	"math"
	"unicode/utf8"

	"github.com/vmihailenco/msgpack/v5"
	"github.com/vmihailenco/msgpack/v5/msgpcode"
)

// mpKind is the type of a decoded MessagePack value, reduced to the types a
// Keystone payload uses.
type mpKind uint8

const (
	mpNil mpKind = iota
	mpBool
	mpInt
	mpFloat
	mpStr
	mpBin
	mpArray
)

// mpValue is one decoded MessagePack value.
type mpValue struct {
	kind mpKind
	b    bool
	i    int64
	f    float64
	raw  []byte // str and bin
	arr  []mpValue
}

// maxDepth bounds nesting; a Keystone payload nests three levels deep.
const maxDepth = 8

// unpack decodes one MessagePack document the way Keystone's validate_token
// does with msgpack.unpackb: the document must be consumed entirely, and when
// any str is not valid UTF-8 the payload is read again with raw=True, which
// turns every str into bytes (tokens from releases using msgpack before 1.0).
// Maps, extension types and integers beyond int64 are rejected.
func unpack(data []byte) (mpValue, error) {
	r := bytes.NewReader(data)
	d := msgpack.NewDecoder(r)
	v, err := readValue(d, r, 0)
	if err != nil {
		return mpValue{}, err
	}
	if r.Len() != 0 {
		return mpValue{}, errors.New("extra data after payload")
	}
	if !validUTF8(&v) {
		rawStrings(&v)
	}
	return v, nil
}

// readValue reads one value. The reader is the decoder's source, used to
// bound declared lengths by the bytes actually left before allocating.
func readValue(d *msgpack.Decoder, r *bytes.Reader, depth int) (mpValue, error) {
	c, err := d.PeekCode()
	if err != nil {
		return mpValue{}, err
	}
	switch {
	case c == msgpcode.Nil:
		return mpValue{kind: mpNil}, d.DecodeNil()
	case c == msgpcode.True || c == msgpcode.False:
		b, err := d.DecodeBool()
		return mpValue{kind: mpBool, b: b}, err
	case msgpcode.IsFixedNum(c) || c == msgpcode.Int8 || c == msgpcode.Int16 ||
		c == msgpcode.Int32 || c == msgpcode.Int64 || c == msgpcode.Uint8 ||
		c == msgpcode.Uint16 || c == msgpcode.Uint32:
		i, err := d.DecodeInt64()
		return mpValue{kind: mpInt, i: i}, err
	case c == msgpcode.Uint64:
		u, err := d.DecodeUint64()
		if err == nil && u > math.MaxInt64 {
			err = errors.New("integer out of range")
		}
		return mpValue{kind: mpInt, i: int64(u)}, err
	case c == msgpcode.Float || c == msgpcode.Double:
		f, err := d.DecodeFloat64()
		return mpValue{kind: mpFloat, f: f}, err
	case msgpcode.IsString(c) || msgpcode.IsBin(c):
		n, err := d.DecodeBytesLen() // reads the header of str and bin alike
		if err != nil {
			return mpValue{}, err
		}
		if n < 0 || n > r.Len() {
			return mpValue{}, io.ErrUnexpectedEOF
		}
		raw := make([]byte, n)
		if _, err := io.ReadFull(r, raw); err != nil {
			return mpValue{}, err
		}
		kind := mpBin
		if msgpcode.IsString(c) {
			kind = mpStr
		}
		return mpValue{kind: kind, raw: raw}, nil
	case msgpcode.IsFixedArray(c) || c == msgpcode.Array16 || c == msgpcode.Array32:
		if depth >= maxDepth {
			return mpValue{}, errors.New("nested too deeply")
		}
		n, err := d.DecodeArrayLen()
		if err != nil {
			return mpValue{}, err
		}
		if n < 0 || n > r.Len() { // every element takes at least one byte
			return mpValue{}, io.ErrUnexpectedEOF
		}
		arr := make([]mpValue, n)
		for i := range arr {
			if arr[i], err = readValue(d, r, depth+1); err != nil {
				return mpValue{}, err
			}
		}
		return mpValue{kind: mpArray, arr: arr}, nil
	}
	return mpValue{}, errors.New("unsupported msgpack type")
}

// validUTF8 reports whether every str in v is valid UTF-8.
func validUTF8(v *mpValue) bool {
	switch v.kind {
	case mpStr:
		return utf8.Valid(v.raw)
	case mpArray:
		for i := range v.arr {
			if !validUTF8(&v.arr[i]) {
				return false
			}
		}
	}
	return true
}

// rawStrings turns every str in v into bin, as unpackb(raw=True) does.
func rawStrings(v *mpValue) {
	switch v.kind {
	case mpStr:
		v.kind = mpBin
	case mpArray:
		for i := range v.arr {
			rawStrings(&v.arr[i])
		}
	}
}
