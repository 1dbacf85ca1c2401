/* Writes a YCCK (Adobe transform 2, as Photoshop saves CMYK) JPEG from raw Adobe-inverted CMYK bytes; Pillow
   cannot write YCCK. Made ycck_60x45.jpg from rgb420_60x45.jpg (PIL convert("CMYK"), bytes inverted):
     gcc make_ycck.c -o make_ycck -ljpeg && ./make_ycck in.cmyk 60 45 ycck_60x45.jpg
   ycck_60x45.rgb is PIL 9.4's Image.open("ycck_60x45.jpg").convert("RGB").tobytes(). */
#include <stdio.h>
#include <stdlib.h>
#include <jpeglib.h>
int main(int argc, char **argv) {
  int w = atoi(argv[2]), h = atoi(argv[3]);
  FILE *in = fopen(argv[1], "rb"); unsigned char *buf = malloc(w * h * 4); fread(buf, 1, w * h * 4, in); fclose(in);
  struct jpeg_compress_struct c; struct jpeg_error_mgr e; c.err = jpeg_std_error(&e); jpeg_create_compress(&c);
  FILE *out = fopen(argv[4], "wb"); jpeg_stdio_dest(&c, out);
  c.image_width = w; c.image_height = h; c.input_components = 4; c.in_color_space = JCS_CMYK;
  jpeg_set_defaults(&c); jpeg_set_colorspace(&c, JCS_YCCK); jpeg_set_quality(&c, 95, TRUE);
  jpeg_start_compress(&c, TRUE);
  while (c.next_scanline < c.image_height) { JSAMPROW row = buf + c.next_scanline * w * 4; jpeg_write_scanlines(&c, &row, 1); }
  jpeg_finish_compress(&c); fclose(out); return 0;
}
