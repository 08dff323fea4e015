// gen.c makes the JPEG fixtures of this folder with libjpeg-turbo's
// encoder: the colour spaces and sampling layouts that libjpeg-turbo reads
// and Go's image/jpeg may not. Run ./gen.sh (see README.md).
//
// Usage: gen W H KIND OUT < pixels.rgb24
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <jpeglib.h>

int main(int argc, char **argv) {
	if (argc != 5) {
		fprintf(stderr, "usage: gen W H KIND OUT < rgb24\n");
		return 2;
	}
	int w = atoi(argv[1]), h = atoi(argv[2]);
	const char *kind = argv[3];
	size_t n = (size_t)w * h * 3;
	unsigned char *rgb = malloc(n), *px = malloc((size_t)w * h * 4);
	if (fread(rgb, 1, n, stdin) != n) {
		fprintf(stderr, "short input\n");
		return 1;
	}
	struct jpeg_compress_struct c;
	struct jpeg_error_mgr jerr;
	c.err = jpeg_std_error(&jerr);
	jpeg_create_compress(&c);
	FILE *f = fopen(argv[4], "wb");
	jpeg_stdio_dest(&c, f);
	c.image_width = w;
	c.image_height = h;
	int four = strncmp(kind, "cmyk", 4) == 0 || strncmp(kind, "ycck", 4) == 0;
	c.input_components = four ? 4 : 3;
	c.in_color_space = four ? JCS_CMYK : JCS_RGB;
	jpeg_set_defaults(&c);
	jpeg_set_quality(&c, 90, TRUE);
	// Samples in Adobe's inverted CMYK convention: stored C, M, Y are R,
	// G, B and K is 255 (no black).
	for (size_t i = 0; i < (size_t)w * h; i++) {
		if (four) {
			memcpy(px + 4 * i, rgb + 3 * i, 3);
			px[4 * i + 3] = 255;
		} else {
			memcpy(px + 3 * i, rgb + 3 * i, 3);
		}
	}
	int samp[4][2] = {{1, 1}, {1, 1}, {1, 1}, {1, 1}};
	if (strcmp(kind, "rgb-g22") == 0) {
		// RGB, green sampled 2x2 and red and blue 1x1: image/jpeg wants
		// the first component's factors to be multiples of the others'.
		jpeg_set_colorspace(&c, JCS_RGB);
		samp[1][0] = samp[1][1] = 2;
	} else if (strcmp(kind, "rgb-r31") == 0) {
		// RGB, red sampled 3x1: image/jpeg reads no factor of 3.
		jpeg_set_colorspace(&c, JCS_RGB);
		samp[0][0] = 3;
	} else if (strcmp(kind, "rgb-arith") == 0) {
		// RGB 4:4:4, arithmetic coded: image/jpeg reads Huffman only.
		jpeg_set_colorspace(&c, JCS_RGB);
		c.arith_code = TRUE;
	} else if (strcmp(kind, "rgb-r22") == 0) {
		// RGB, red 2x2 (as video-001.rgb.jpeg): both decoders read it.
		jpeg_set_colorspace(&c, JCS_RGB);
		samp[0][0] = samp[0][1] = 2;
	} else if (strcmp(kind, "rgb-g22-prog-rst") == 0) {
		// As rgb-g22, progressive, with a restart marker every MCU.
		jpeg_set_colorspace(&c, JCS_RGB);
		samp[1][0] = samp[1][1] = 2;
		jpeg_simple_progression(&c);
		c.restart_interval = 1;
	} else if (strcmp(kind, "ycc420-prog-rst") == 0) {
		// YCbCr 4:2:0, progressive, with a restart marker every MCU.
		samp[0][0] = samp[0][1] = 2;
		jpeg_simple_progression(&c);
		c.restart_interval = 1;
	} else if (strcmp(kind, "cmyk-noadobe") == 0) {
		// CMYK without the Adobe APP14 segment: image/jpeg refuses a
		// 4-component JPEG without it; libjpeg takes it as CMYK.
		jpeg_set_colorspace(&c, JCS_CMYK);
		c.write_Adobe_marker = FALSE;
	} else if (strcmp(kind, "cmyk-2112") == 0) {
		// Adobe CMYK, C and K 2x2, M and Y 1x1: a layout both read.
		jpeg_set_colorspace(&c, JCS_CMYK);
		samp[0][0] = samp[0][1] = samp[3][0] = samp[3][1] = 2;
	} else if (strcmp(kind, "ycck-2111") == 0) {
		// Adobe YCCK, Y 2x2 and the rest 1x1: image/jpeg reads only
		// 1111 and 2112.
		jpeg_set_colorspace(&c, JCS_YCCK);
		samp[0][0] = samp[0][1] = 2;
	} else if (strcmp(kind, "ycck-2112") == 0) {
		jpeg_set_colorspace(&c, JCS_YCCK);
		samp[0][0] = samp[0][1] = samp[3][0] = samp[3][1] = 2;
	} else {
		fprintf(stderr, "unknown kind %s\n", kind);
		return 2;
	}
	for (int i = 0; i < c.num_components; i++) {
		c.comp_info[i].h_samp_factor = samp[i][0];
		c.comp_info[i].v_samp_factor = samp[i][1];
	}
	jpeg_start_compress(&c, TRUE);
	int stride = w * c.input_components;
	while (c.next_scanline < c.image_height) {
		JSAMPROW row = px + (size_t)c.next_scanline * stride;
		jpeg_write_scanlines(&c, &row, 1);
	}
	jpeg_finish_compress(&c);
	jpeg_destroy_compress(&c);
	fclose(f);
	return 0;
}
