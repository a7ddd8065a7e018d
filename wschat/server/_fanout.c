/*
 * wschat.server._fanout: the fan-out's inner loop, compiled (optional; POSIX only).
 *
 * Why it exists: at the open-loop load of benchmarks/README.md (one message per burst), every
 * delivery is one write(2) for every server; what wschat adds on top is Python bookkeeping per
 * connection (attribute lookups, the state check, the transport's write path, the buffer
 * check), about as much CPU as the system call itself. This loop does the same work per
 * session in C, and when the session's transport has nothing buffered it hands the bytes to
 * the kernel with one send(2) on the connection's socket instead of through the transport.
 *
 * It must behave exactly like wschat.server.writer.put_each_py (the pure-Python version, which
 * is used when this module is missing and which the tests compare it with):
 *   - a session with `closing` set, a connection not OPEN, or one with extensions: skipped;
 *   - the bytes reach the connection in order after everything written before them;
 *   - a session whose transport then buffers more than `max_pending` bytes is returned;
 *   - a session whose write raises an Exception is appended to `broken` as (session, error),
 *     and the loop goes on: the sessions after it get their bytes all the same (the caller
 *     closes the broken one). Anything else (KeyboardInterrupt...) propagates.
 *
 * Why a direct send is safe (the order and the right socket):
 *   - `session.fd` is set only for plain TCP transports (no TLS: their socket carries
 *     ciphertext) of uvloop or asyncio's selector loop (wschat.server.writer.direct_fd);
 *   - it is used only while `transport.is_closing()` is False, so the descriptor is still this
 *     connection's (both loops set that flag before they close the socket), and only when
 *     `transport.get_write_buffer_size()` is 0, so every byte written before (websockets' own
 *     pings, pongs and closes included) is already in the kernel, ahead of these;
 *   - whatever send(2) does not take (a full socket buffer, an error) goes to
 *     `transport.write()`, which queues it, or finds the error and closes the transport,
 *     exactly as it would have without this module.
 * Everything runs with the GIL held and without calling back into the event loop between the
 * checks and the send, so nothing can change in between.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <errno.h>
#include <sys/socket.h>
#include <sys/types.h>

#ifndef MSG_NOSIGNAL
#define MSG_NOSIGNAL 0 /* macOS: Python ignores SIGPIPE already */
#endif

static PyObject *s_closing, *s_ws, *s_protocol, *s_state, *s_extensions, *s_transport, *s_fd,
    *s_write, *s_is_closing, *s_get_write_buffer_size;

/* 1 true, 0 false, -1 error */
static int attr_true(PyObject *obj, PyObject *name) {
    PyObject *value = PyObject_GetAttr(obj, name);
    if (value == NULL) return -1;
    int truth = PyObject_IsTrue(value);
    Py_DECREF(value);
    return truth;
}

/* transport.get_write_buffer_size() as a Py_ssize_t, -1 on error */
static Py_ssize_t buffered(PyObject *transport) {
    PyObject *size = PyObject_CallMethodNoArgs(transport, s_get_write_buffer_size);
    if (size == NULL) return -1;
    Py_ssize_t n = PyLong_AsSsize_t(size);
    Py_DECREF(size);
    return n;
}

/* transport.write(data[offset:]); 0 or -1 on error */
static int transport_write(PyObject *transport, PyObject *data, Py_ssize_t offset) {
    PyObject *chunk;
    if (offset == 0) {
        chunk = Py_NewRef(data);
    } else {
        chunk = PyBytes_FromStringAndSize(PyBytes_AS_STRING(data) + offset,
                                          PyBytes_GET_SIZE(data) - offset);
        if (chunk == NULL) return -1;
    }
    PyObject *result = PyObject_CallMethodOneArg(transport, s_write, chunk);
    Py_DECREF(chunk);
    if (result == NULL) return -1;
    Py_DECREF(result);
    return 0;
}

/* One session; 1 if it went past max_pending, 0 if not (or skipped), -1 on error. */
static int put_one(PyObject *session, PyObject *data, PyObject *open_state, Py_ssize_t max_pending) {
    int result = -1;
    PyObject *ws = NULL, *protocol = NULL, *state = NULL, *transport = NULL, *fd_obj = NULL;

    int closing = attr_true(session, s_closing);
    if (closing != 0) return closing < 0 ? -1 : 0;
    if ((ws = PyObject_GetAttr(session, s_ws)) == NULL) goto done;
    if ((protocol = PyObject_GetAttr(ws, s_protocol)) == NULL) goto done;
    if ((state = PyObject_GetAttr(protocol, s_state)) == NULL) goto done;
    if (state != open_state) { result = 0; goto done; }
    int extensions = attr_true(protocol, s_extensions);
    if (extensions != 0) { result = extensions < 0 ? -1 : 0; goto done; }
    if ((transport = PyObject_GetAttr(ws, s_transport)) == NULL) goto done;
    if ((fd_obj = PyObject_GetAttr(session, s_fd)) == NULL) goto done;
    long fd = PyLong_AsLong(fd_obj);
    if (fd == -1 && PyErr_Occurred()) goto done;

    Py_ssize_t offset = 0;
    if (fd >= 0) {
        PyObject *flag = PyObject_CallMethodNoArgs(transport, s_is_closing);
        if (flag == NULL) goto done;
        int is_closing = PyObject_IsTrue(flag);
        Py_DECREF(flag);
        if (is_closing < 0) goto done;
        if (!is_closing) {
            Py_ssize_t pending = buffered(transport);
            if (pending < 0) goto done;
            if (pending == 0) {
                const char *buf = PyBytes_AS_STRING(data);
                Py_ssize_t len = PyBytes_GET_SIZE(data);
                ssize_t sent;
                do {
                    sent = send((int)fd, buf, (size_t)len, MSG_DONTWAIT | MSG_NOSIGNAL);
                } while (sent < 0 && errno == EINTR);
                if (sent == len) { result = 0; goto done; }
                /* partial: the rest through the transport; an error: all of it, so that the
                   transport meets the error itself and closes as it would have */
                if (sent > 0) offset = sent;
            }
        }
    }
    if (transport_write(transport, data, offset) < 0) goto done;
    Py_ssize_t pending = buffered(transport);
    if (pending < 0) goto done;
    result = pending > max_pending ? 1 : 0;

done:
    Py_XDECREF(ws);
    Py_XDECREF(protocol);
    Py_XDECREF(state);
    Py_XDECREF(transport);
    Py_XDECREF(fd_obj);
    return result;
}

/* The current exception is an Exception: append (session, exception) to `broken` and clear
   it; 0, or -1 with an exception set (another kind of exception, or no memory). */
static int record_broken(PyObject *broken, PyObject *session) {
    if (!PyErr_ExceptionMatches(PyExc_Exception)) return -1;
#if PY_VERSION_HEX >= 0x030C0000
    PyObject *error = PyErr_GetRaisedException();
#else
    PyObject *type, *error, *traceback;
    PyErr_Fetch(&type, &error, &traceback);
    PyErr_NormalizeException(&type, &error, &traceback);
    if (traceback != NULL && error != NULL) PyException_SetTraceback(error, traceback);
    Py_XDECREF(type);
    Py_XDECREF(traceback);
    if (error == NULL) return -1;
#endif
    PyObject *pair = PyTuple_Pack(2, session, error);
    Py_DECREF(error);
    if (pair == NULL) return -1;
    int result = PyList_Append(broken, pair);
    Py_DECREF(pair);
    return result;
}

PyDoc_STRVAR(put_each_doc,
"put_each(sessions, data, open_state, max_pending, broken) -> list\n\n"
"Write ``data`` (bytes) to every session; return those whose transport then buffers more\n"
"than ``max_pending`` bytes; append (session, error) to the list ``broken`` for each session\n"
"whose write raised. Same contract as wschat.server.writer.put_each_py.");

static PyObject *put_each(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
    (void)self; /* the module: METH_FASTCALL passes it, nothing here needs it */
    if (nargs != 5) {
        PyErr_SetString(PyExc_TypeError, "put_each() takes 5 arguments");
        return NULL;
    }
    PyObject *data = args[1], *open_state = args[2], *broken = args[4];
    if (!PyBytes_CheckExact(data)) {
        PyErr_SetString(PyExc_TypeError, "data must be bytes");
        return NULL;
    }
    if (!PyList_Check(broken)) {
        PyErr_SetString(PyExc_TypeError, "broken must be a list");
        return NULL;
    }
    Py_ssize_t max_pending = PyLong_AsSsize_t(args[3]);
    if (max_pending == -1 && PyErr_Occurred()) return NULL;
    PyObject *seq = PySequence_Fast(args[0], "sessions must be a sequence");
    if (seq == NULL) return NULL;
    PyObject *slow = PyList_New(0);
    if (slow == NULL) { Py_DECREF(seq); return NULL; }
    Py_ssize_t n = PySequence_Fast_GET_SIZE(seq);
    PyObject **items = PySequence_Fast_ITEMS(seq);
    for (Py_ssize_t i = 0; i < n; i++) {
        int r = put_one(items[i], data, open_state, max_pending);
        if (r < 0) r = record_broken(broken, items[i]);
        if (r < 0 || (r == 1 && PyList_Append(slow, items[i]) < 0)) {
            Py_DECREF(seq);
            Py_DECREF(slow);
            return NULL;
        }
    }
    Py_DECREF(seq);
    return slow;
}

static PyMethodDef methods[] = {
    {"put_each", (PyCFunction)(void (*)(void))put_each, METH_FASTCALL, put_each_doc},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT,
    .m_name = "wschat.server._fanout",
    .m_doc = "The fan-out's inner loop in C (see wschat/server/_fanout.c).",
    .m_size = -1,
    .m_methods = methods,
};

#define INTERN(var, text) if ((var = PyUnicode_InternFromString(text)) == NULL) return NULL

PyMODINIT_FUNC PyInit__fanout(void) {
    INTERN(s_closing, "closing");
    INTERN(s_ws, "ws");
    INTERN(s_protocol, "protocol");
    INTERN(s_state, "state");
    INTERN(s_extensions, "extensions");
    INTERN(s_transport, "transport");
    INTERN(s_fd, "fd");
    INTERN(s_write, "write");
    INTERN(s_is_closing, "is_closing");
    INTERN(s_get_write_buffer_size, "get_write_buffer_size");
    return PyModule_Create(&module);
}
