/* cmpf32 A.f32 B.f32 TOL: max |a - b| over two equally long float32 files;
   exit 0 when it is <= TOL. B may be longer: its last len(A) floats are used
   (so a last-position dump compares against an all-positions golden file). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

static float *slurp(const char *path, long *n) {
    FILE *f = fopen(path, "rb");
    float *buf = NULL;
    long bytes;
    if (!f) return NULL;
    if (fseek(f, 0, SEEK_END) == 0 && (bytes = ftell(f)) > 0 && bytes % 4 == 0 && fseek(f, 0, SEEK_SET) == 0 &&
        (buf = (float *)malloc((size_t)bytes)) && fread(buf, 1, (size_t)bytes, f) == (size_t)bytes)
        *n = bytes / 4;
    else {
        free(buf);
        buf = NULL;
    }
    fclose(f);
    return buf;
}

int main(int argc, char **argv) {
    long na = 0, nb = 0, i;
    float *a, *b;
    double worst = 0, tol;
    if (argc != 4) { fprintf(stderr, "usage: cmpf32 A.f32 B.f32 TOL\n"); return 2; }
    a = slurp(argv[1], &na);
    b = slurp(argv[2], &nb);
    tol = atof(argv[3]);
    if (!a || !b || na > nb) { fprintf(stderr, "cmpf32: cannot read or sizes differ\n"); return 2; }
    for (i = 0; i < na; i++) {
        double d = fabs((double)a[i] - (double)b[nb - na + i]);
        if (!(d <= worst)) worst = d;
    }
    printf("max|diff| %.3g\n", worst);
    free(a);
    free(b);
    return worst <= tol ? 0 : 1;
}
