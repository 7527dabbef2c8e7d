package timed

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestItemsHaveTheirOwnCodec(t *testing.T) {
	c, ok := Codec[Item[string]]()
	require.True(t, ok)
	b, err := c.Encode(Item[string]{TS: -5, V: "x"})
	require.NoError(t, err)
	v, err := c.Decode(b)
	require.NoError(t, err)
	require.Equal(t, Item[string]{TS: -5, V: "x"}, v)
	_, err = c.Decode(append(b, 0))
	require.Error(t, err, "trailing bytes")

	_, ok = Codec[string]()
	require.False(t, ok)
}
