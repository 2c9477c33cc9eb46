/* dltut: stand-in for numpy/noprefix.h, which numpy 2 removed (dltut/compat/numpy2.py).
   Theano 1.0.5's legacy ConvOp includes it; it only needs numpy's array API. */
#ifndef DLTUT_NUMPY_NOPREFIX_H
#define DLTUT_NUMPY_NOPREFIX_H
#include <numpy/arrayobject.h>
#endif
