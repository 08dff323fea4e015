package fingerprint

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"image"
	"image/color"
	"testing"

	"github.com/mediamatch/mediamatch/api/mediamatch"
	"github.com/mediamatch/mediamatch/api/mediamatch/mmtest"
)

// keyframeDigest returns the first 8 bytes, in hex, of a SHA-256 over
// everything a keyframe carries: each signal's type, hash, quality,
// transform and view in order, the low-information mark and the local
// features.
func keyframeDigest(k mediamatch.Keyframe) string {
	h := sha256.New()
	for _, s := range k.Signals {
		fmt.Fprintf(h, "%s %x q%d t%d %+v\n", s.Type, s.Hash, s.Quality, s.Transform, s.View)
	}
	fmt.Fprintf(h, "low %v\n", k.LowInformation)
	h.Write(mediamatch.AppendFeatures(nil, k.Features))
	return hex.EncodeToString(h.Sum(nil)[:8])
}

// TestStillHashGolden pins the complete output of still-image and frame
// hashing (every PDQ signal: whole frame, views, dihedral variants; pHash,
// dHash, quality, the views' regions, features) on shared photos and on
// edits of them made in memory: a PNG of 512x512 (no pre-shrink), JPEGs
// over 512 pixels (pre-shrunk) under each EXIF orientation, small
// paletted, grey and YCbCr images, padded and bordered copies (all their
// views), images of a few pixels, and the video frame path. It guards
// changes made for speed, which must leave every bit as it was: a change
// of output shows here, and is meant to be made on purpose, with the
// digests updated. JPEG digests depend on the decoder (libjpeg-turbo at
// reduced scale, or image/jpeg in full), so each build has its own.
func TestStillHashGolden(t *testing.T) {
	h := New(Options{})
	files := []string{
		"skimage/astronaut.png",
		"skimage/coins.png",
		"exif-orientation/Landscape_1.jpg",
		"exif-orientation/Landscape_3.jpg",
		"exif-orientation/Landscape_6.jpg",
		"exif-orientation/Portrait_2.jpg",
		"exif-orientation/Portrait_4.jpg",
		"exif-orientation/Portrait_5.jpg",
		"exif-orientation/Portrait_7.jpg",
		"exif-orientation/Portrait_8.jpg",
		"images4/small.gif",
		"images4/nearest100x100.png",
		"images4/uniform-black.png",
		"go-stdlib-video001/video-005.gray.png",
		"go-stdlib-video001/video-001.jpeg",
		"imaging-flowers/flowers_small.png",
	}
	got := map[string]string{}
	for _, rel := range files {
		data := mmtest.ReadShared(t, "media", "images", rel)
		m, err := h.HashWith(context.Background(), data, HashOptions{Dihedral: true})
		if err != nil {
			t.Fatalf("HashWith(%s) = %v", rel, err)
		}
		got[rel] = keyframeDigest(m.Keyframes[0])
	}
	astronaut := sharedPhoto(t, "skimage/astronaut.png")
	chelsea := sharedPhoto(t, "skimage/chelsea.png")
	aw, ah := astronaut.Rect.Dx(), astronaut.Rect.Dy()
	cw, ch := chelsea.Rect.Dx(), chelsea.Rect.Dy()
	// A border around a letterbox: the outer cut differs from the trim.
	boxed := framed(framed(astronaut, aw, ah*16/10, 0, (ah*16/10-ah)/2, color.Black),
		aw+40, ah*16/10+40, 20, 20, color.White)
	screenshot, _ := screenshotted(astronaut)
	small := func(w, h int) *image.RGBA {
		m := image.NewRGBA(image.Rect(0, 0, w, h))
		for i := range m.Pix {
			m.Pix[i] = uint8(i * 37 % 251)
		}
		return m
	}
	stills := []struct {
		name string
		img  image.Image
	}{
		{"astronaut", astronaut},
		{"chelsea", chelsea},
		{"astronaut-pad16x9", framed(astronaut, aw*16/9, ah, (aw*16/9-aw)/2, 0, color.Black)},
		{"chelsea-pad16x9", framed(chelsea, ch*16/9, ch, (ch*16/9-cw)/2, 0, color.Black)},
		{"chelsea-pad9x16", framed(chelsea, cw, cw*16/9, 0, (cw*16/9-ch)/2, color.White)},
		{"astronaut-boxed", boxed},
		{"astronaut-sub", astronaut.SubImage(image.Rect(37, 11, 437, 500))},
		{"astronaut-blur16x9", blurPadded(astronaut, aw*16/9, ah)},
		{"chelsea-blur9x16", blurPadded(chelsea, cw, cw*16/9)},
		{"astronaut-screenshot", screenshot},
		{"4x4", small(4, 4)},
		{"6x5", small(6, 5)},
		{"9x13", small(9, 13)},
		{"700x9", small(700, 9)},
	}
	for _, s := range stills {
		for o := 1; o <= 8; o++ {
			got[fmt.Sprintf("%s/o%d", s.name, o)] = keyframeDigest(hashStill(s.img, o, HashOptions{Dihedral: true}))
		}
	}
	for _, s := range stills[:10] {
		sig, vs, ok := framePDQ(s.img, true)
		got["frame/"+s.name] = keyframeDigest(mediamatch.Keyframe{Signals: append([]mediamatch.Signal{sig}, vs...), LowInformation: !ok})
	}
	want := stillHashGolden
	if haveLibjpeg {
		want = stillHashGoldenLibjpeg
	}
	for name, g := range got {
		w, ok := want[name]
		if !ok {
			w, ok = stillHashGoldenLibjpeg[name] // not decoded by a JPEG decoder: the same in both builds
		}
		if !ok {
			t.Errorf("%s: digest %s, want an entry in the golden table", name, g)
			continue
		}
		if g != w {
			t.Errorf("%s: digest %s, want %s", name, g, w)
		}
	}
}

// stillHashGoldenLibjpeg holds the digests of TestStillHashGolden with
// libjpeg-turbo; stillHashGolden those of the JPEGs without it.
var stillHashGoldenLibjpeg = map[string]string{
	"astronaut-blur16x9/o1":                 "3645e7ec4b56bd5d",
	"astronaut-blur16x9/o2":                 "4b531fd4ae033ccd",
	"astronaut-blur16x9/o3":                 "ea71637335f136fd",
	"astronaut-blur16x9/o4":                 "d65185adfedcb1b1",
	"astronaut-blur16x9/o5":                 "3011c39451878ec5",
	"astronaut-blur16x9/o6":                 "46cffd3c89540bb8",
	"astronaut-blur16x9/o7":                 "2d69632814af52b0",
	"astronaut-blur16x9/o8":                 "6e495b26f570a3d1",
	"astronaut-screenshot/o1":               "57f0a2c0bdd9bc91",
	"astronaut-screenshot/o2":               "c0fbe49453989a34",
	"astronaut-screenshot/o3":               "d240e1a482377a84",
	"astronaut-screenshot/o4":               "932623110e367ac3",
	"astronaut-screenshot/o5":               "9096e064bbaf7813",
	"astronaut-screenshot/o6":               "4327eda32ab55566",
	"astronaut-screenshot/o7":               "3684119ef68ba407",
	"astronaut-screenshot/o8":               "80d9ad1a007d93f3",
	"chelsea-blur9x16/o1":                   "b3ff2a35d13d6da6",
	"chelsea-blur9x16/o2":                   "411cb8b737578dc2",
	"chelsea-blur9x16/o3":                   "49557d3870e632bd",
	"chelsea-blur9x16/o4":                   "78518a3ddc7dc9a0",
	"chelsea-blur9x16/o5":                   "5b60f716ad1d8631",
	"chelsea-blur9x16/o6":                   "08e6136da26da441",
	"chelsea-blur9x16/o7":                   "1ffe0a6262ef39bc",
	"chelsea-blur9x16/o8":                   "cf6e710c4b1cef2c",
	"frame/astronaut-blur16x9":              "f0dd03cbb89c97dc",
	"frame/astronaut-screenshot":            "d1a9218e2366cf9a",
	"frame/astronaut-sub":                   "225ae3131e8560b1",
	"frame/chelsea-blur9x16":                "a8377e67d33d98de",
	"4x4/o1":                                "0225e448fa3b44b3",
	"4x4/o2":                                "581846ad98ddbece",
	"4x4/o3":                                "395222b2f0c2e47e",
	"4x4/o4":                                "70808e44bad68f39",
	"4x4/o5":                                "b4daa33a3ee5163c",
	"4x4/o6":                                "16ecf76dd789b962",
	"4x4/o7":                                "f610127ae8030f54",
	"4x4/o8":                                "c68e08337487abf9",
	"6x5/o1":                                "67a36ceb769a27c8",
	"6x5/o2":                                "f98c3fe7fbaf64c8",
	"6x5/o3":                                "2c7bfa493570cbf2",
	"6x5/o4":                                "51f3f9044d88a00b",
	"6x5/o5":                                "2e0ee77295ba9b8d",
	"6x5/o6":                                "c5996aedaadb440a",
	"6x5/o7":                                "576122575be1d5ac",
	"6x5/o8":                                "241bcd19f1a4a32a",
	"700x9/o1":                              "29d41a3779c3653b",
	"700x9/o2":                              "f80e7de6e22c8035",
	"700x9/o3":                              "813bec4b7dbd75bd",
	"700x9/o4":                              "6fcd404d1b7777ac",
	"700x9/o5":                              "a44c2d8983d45f2c",
	"700x9/o6":                              "83decc98f339ec05",
	"700x9/o7":                              "302f7b62b9d54d13",
	"700x9/o8":                              "a6f8eeadd63650c1",
	"9x13/o1":                               "a277f090f5b2760e",
	"9x13/o2":                               "e10660ffdd83857a",
	"9x13/o3":                               "0a262129f00f6cf1",
	"9x13/o4":                               "d208702f6cf63028",
	"9x13/o5":                               "aa022a677a2b8af4",
	"9x13/o6":                               "a8a52940bbafb49b",
	"9x13/o7":                               "99e7b0f17bbaee0f",
	"9x13/o8":                               "3f15d5461591a4b3",
	"astronaut-boxed/o1":                    "355d91cdfd64de8b",
	"astronaut-boxed/o2":                    "84502de1465b7b39",
	"astronaut-boxed/o3":                    "25375bec84034033",
	"astronaut-boxed/o4":                    "4b41034e7d952e5b",
	"astronaut-boxed/o5":                    "5ed4a174af758828",
	"astronaut-boxed/o6":                    "f85f358052b91404",
	"astronaut-boxed/o7":                    "285e398a65b6f38c",
	"astronaut-boxed/o8":                    "960094770c3e73e3",
	"astronaut-pad16x9/o1":                  "e97d4c1a12d30b28",
	"astronaut-pad16x9/o2":                  "2110a85aa8cf00ba",
	"astronaut-pad16x9/o3":                  "01412309a56ed0fe",
	"astronaut-pad16x9/o4":                  "b52837b8c1266df4",
	"astronaut-pad16x9/o5":                  "b89c8c5aa6dbca0e",
	"astronaut-pad16x9/o6":                  "85524f68efe8eea7",
	"astronaut-pad16x9/o7":                  "83f8e46fa26cfb8d",
	"astronaut-pad16x9/o8":                  "45fb7851cd798fff",
	"astronaut-sub/o1":                      "86954ad87d791fd3",
	"astronaut-sub/o2":                      "db6483920f37c692",
	"astronaut-sub/o3":                      "595d8e22b7b3083a",
	"astronaut-sub/o4":                      "58a07b812513ce77",
	"astronaut-sub/o5":                      "f8e15250e4334716",
	"astronaut-sub/o6":                      "d43e131eb38206a0",
	"astronaut-sub/o7":                      "496ad5c521301c40",
	"astronaut-sub/o8":                      "a8aabfa518d4c8f9",
	"astronaut/o1":                          "72e87352a4dddddd",
	"astronaut/o2":                          "f93acfd7a5ea999c",
	"astronaut/o3":                          "8a28ce89e2f6a82d",
	"astronaut/o4":                          "92c529144aa01762",
	"astronaut/o5":                          "c08a22140e98ce0c",
	"astronaut/o6":                          "d7909d0031548dfd",
	"astronaut/o7":                          "e3cafb82a9dfefb3",
	"astronaut/o8":                          "7da2c83d285a868c",
	"chelsea-pad16x9/o1":                    "8f2733925f23cb2a",
	"chelsea-pad16x9/o2":                    "5676d1ec98661088",
	"chelsea-pad16x9/o3":                    "467f0071365edc54",
	"chelsea-pad16x9/o4":                    "b3f9514c6f705d88",
	"chelsea-pad16x9/o5":                    "7a0fa070a62709fb",
	"chelsea-pad16x9/o6":                    "c099365b191f9b96",
	"chelsea-pad16x9/o7":                    "38bb9582f4526658",
	"chelsea-pad16x9/o8":                    "389d3d4be18a46a1",
	"chelsea-pad9x16/o1":                    "66c215ebe2bc14ae",
	"chelsea-pad9x16/o2":                    "320ba530206fd47a",
	"chelsea-pad9x16/o3":                    "e2acf9e0c0ebdd0b",
	"chelsea-pad9x16/o4":                    "1ddb2054c50e678d",
	"chelsea-pad9x16/o5":                    "3142e8518510e828",
	"chelsea-pad9x16/o6":                    "88ded8eb2019d61b",
	"chelsea-pad9x16/o7":                    "40717a12ff4d40b1",
	"chelsea-pad9x16/o8":                    "65c1a2b0adb4d007",
	"chelsea/o1":                            "933f3659f77b91e5",
	"chelsea/o2":                            "d106a221e4c4e268",
	"chelsea/o3":                            "460643e9833b531a",
	"chelsea/o4":                            "f294e2627160b2b9",
	"chelsea/o5":                            "446e88cddd5e396e",
	"chelsea/o6":                            "249ab6ebb6f17017",
	"chelsea/o7":                            "efea62febbc04e5c",
	"chelsea/o8":                            "fafc032dcf9dac83",
	"exif-orientation/Landscape_1.jpg":      "020f0f993ba415d8",
	"exif-orientation/Landscape_3.jpg":      "05d8e0799c247cb9",
	"exif-orientation/Landscape_6.jpg":      "7fe530c0ad13e048",
	"exif-orientation/Portrait_2.jpg":       "3c7ffe867a57a42c",
	"exif-orientation/Portrait_4.jpg":       "01dd42f813de118b",
	"exif-orientation/Portrait_5.jpg":       "08e375855ba0f9ff",
	"exif-orientation/Portrait_7.jpg":       "8def88e5dc7503e3",
	"exif-orientation/Portrait_8.jpg":       "9b59b4b00a3c66c2",
	"frame/astronaut":                       "6a796ef61bc80cab",
	"frame/astronaut-boxed":                 "386906f59793bf5c",
	"frame/astronaut-pad16x9":               "29290e14cb5a9e56",
	"frame/chelsea":                         "a28dd67dfb48e6ab",
	"frame/chelsea-pad16x9":                 "65f82641bdae7ddb",
	"frame/chelsea-pad9x16":                 "2bc5a157e5d315a9",
	"go-stdlib-video001/video-001.jpeg":     "b8616cd71db46f5a",
	"go-stdlib-video001/video-005.gray.png": "539b473f6f22609c",
	"images4/nearest100x100.png":            "463c586000a72224",
	"images4/small.gif":                     "fcbd6572a8e472b2",
	"images4/uniform-black.png":             "fd3772bcff9fa498",
	"imaging-flowers/flowers_small.png":     "cd577bb164c89480",
	"skimage/astronaut.png":                 "72e87352a4dddddd",
	"skimage/coins.png":                     "0071bdb112143c69",
}

var stillHashGolden = map[string]string{
	"exif-orientation/Landscape_1.jpg":  "5c0192346bcf74be",
	"exif-orientation/Landscape_3.jpg":  "fb62d1ccdc51e524",
	"exif-orientation/Landscape_6.jpg":  "65f800fc86cd9760",
	"exif-orientation/Portrait_2.jpg":   "365717f6924d6b33",
	"exif-orientation/Portrait_4.jpg":   "b9218449a5ce8ddc",
	"exif-orientation/Portrait_5.jpg":   "efb7d2a93708164b",
	"exif-orientation/Portrait_7.jpg":   "b357b665a1dddf6e",
	"exif-orientation/Portrait_8.jpg":   "b976b6c19a46f6bc",
	"go-stdlib-video001/video-001.jpeg": "44b5a4a8657d3e37",
}
