package axml

import (
	"fmt"
	"math"
	"strconv"
)

// DataType is the type of a typed value (Res_value.dataType).
type DataType uint8

// Data types from ResourceTypes.h.
const (
	TypeNull             DataType = 0x00 // no data (data 1: explicitly empty)
	TypeReference        DataType = 0x01 // resource reference @0xPPTTEEEE
	TypeAttribute        DataType = 0x02 // theme attribute reference ?0xPPTTEEEE
	TypeString           DataType = 0x03 // string pool index
	TypeFloat            DataType = 0x04 // IEEE 754 single
	TypeDimension        DataType = 0x05 // complex: dimension
	TypeFraction         DataType = 0x06 // complex: fraction
	TypeDynamicReference DataType = 0x07 // reference to a shared library resource
	TypeDynamicAttribute DataType = 0x08 // attribute in a shared library
	TypeIntDec           DataType = 0x10 // integer written in decimal
	TypeIntHex           DataType = 0x11 // integer written in hex
	TypeIntBoolean       DataType = 0x12 // boolean: 0 false, nonzero true
	TypeIntColorARGB8    DataType = 0x1c // #aarrggbb
	TypeIntColorRGB8     DataType = 0x1d // #rrggbb
	TypeIntColorARGB4    DataType = 0x1e // #argb
	TypeIntColorRGB4     DataType = 0x1f // #rgb
)

// Value is a typed attribute value. For TypeString, Str holds the string and
// Data is ignored when setting (the pool index is chosen by the document).
type Value struct {
	Type DataType
	Data uint32
	Str  string
}

// StringValue returns a string value.
func StringValue(s string) Value { return Value{Type: TypeString, Str: s} }

// IntValue returns a decimal integer value.
func IntValue(n int32) Value { return Value{Type: TypeIntDec, Data: uint32(n)} }

// HexValue returns an integer value written in hex.
func HexValue(n uint32) Value { return Value{Type: TypeIntHex, Data: n} }

// BoolValue returns a boolean value, encoded as aapt does (true = 0xFFFFFFFF).
func BoolValue(b bool) Value {
	if b {
		return Value{Type: TypeIntBoolean, Data: 0xFFFFFFFF}
	}
	return Value{Type: TypeIntBoolean}
}

// RefValue returns a resource reference value (@0xPPTTEEEE).
func RefValue(id ResID) Value { return Value{Type: TypeReference, Data: uint32(id)} }

// Int returns the value as an integer, for the integer, boolean and color
// types, and for strings that hold a decimal number.
func (v Value) Int() (int64, bool) {
	switch {
	case v.Type == TypeIntDec || v.Type == TypeIntBoolean:
		return int64(int32(v.Data)), true
	case v.Type >= TypeIntHex && v.Type <= TypeIntColorRGB4:
		return int64(v.Data), true
	case v.Type == TypeString:
		n, err := strconv.ParseInt(v.Str, 10, 64)
		return n, err == nil
	}
	return 0, false
}

// Bool returns the value as a boolean, for TypeIntBoolean and the strings
// "true" and "false".
func (v Value) Bool() (bool, bool) {
	switch {
	case v.Type == TypeIntBoolean:
		return v.Data != 0, true
	case v.Type == TypeString && (v.Str == "true" || v.Str == "false"):
		return v.Str == "true", true
	}
	return false, false
}

// String formats the value as aapt prints it: the string itself, decimal or
// hex integers, true/false, #colors, dimensions, and unresolved references as
// @0xPPTTEEEE (?0x… for theme attributes).
func (v Value) String() string {
	switch v.Type {
	case TypeString:
		return v.Str
	case TypeNull:
		return ""
	case TypeReference, TypeDynamicReference:
		if v.Data == 0 {
			return "@null"
		}
		return fmt.Sprintf("@0x%08x", v.Data)
	case TypeAttribute, TypeDynamicAttribute:
		return fmt.Sprintf("?0x%08x", v.Data)
	case TypeFloat:
		return strconv.FormatFloat(float64(math.Float32frombits(v.Data)), 'g', -1, 32)
	case TypeDimension:
		units := [...]string{"px", "dp", "sp", "pt", "in", "mm"}
		u := "unit" + strconv.Itoa(int(v.Data&0xf))
		if int(v.Data&0xf) < len(units) {
			u = units[v.Data&0xf]
		}
		return strconv.FormatFloat(complexToFloat(v.Data), 'g', -1, 32) + u
	case TypeFraction:
		u := "%"
		if v.Data&0xf == 1 {
			u = "%p"
		}
		return strconv.FormatFloat(complexToFloat(v.Data)*100, 'g', -1, 32) + u
	case TypeIntDec:
		return strconv.Itoa(int(int32(v.Data)))
	case TypeIntHex:
		return fmt.Sprintf("0x%08x", v.Data)
	case TypeIntBoolean:
		return strconv.FormatBool(v.Data != 0)
	case TypeIntColorARGB8, TypeIntColorARGB4:
		return fmt.Sprintf("#%08x", v.Data)
	case TypeIntColorRGB8, TypeIntColorRGB4:
		return fmt.Sprintf("#%06x", v.Data&0xFFFFFF)
	}
	return fmt.Sprintf("(type 0x%02x)0x%08x", uint8(v.Type), v.Data)
}

// complexToFloat decodes a complex dimension or fraction: a signed 24-bit
// mantissa in the top bits, scaled by the radix in bits 4-5.
func complexToFloat(c uint32) float64 {
	shifts := [...]uint{8, 15, 23, 31}
	return float64(int32(c&0xFFFFFF00)) / float64(uint64(1)<<shifts[(c>>4)&3])
}
