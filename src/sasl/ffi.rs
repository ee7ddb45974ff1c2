//! The only unsafe code of the SASL server: calls into Cyrus libsasl2 (through `sasl2-sys`,
//! linked against the system library found by pkg-config) and the callbacks libsasl2 calls
//! back. Everything here is wrapped by the safe API in `super` (crate::sasl).
//!
//! Security role: network input (decoded SASL responses) crosses into C here, always as
//! (pointer, length) pairs; every string libsasl2 hands back is copied before the next call.
//!
//! Thread safety: libsasl2 2.1 keeps process-wide state (the mechanism list, the global
//! callbacks) that only `sasl_server_init` and `sasl_done` change; its own mutexes default
//! to no-ops, so `init` installs real ones (pthread mutexes, `sasl_set_mutex`) before
//! `sasl_server_init`, and `init` runs once per process under `INIT` (a Rust mutex).
//! A `sasl_conn_t` is used by one session thread only (Conn is not Send). Creating and
//! disposing connections and listing mechanisms read the global mechanism list; they are
//! serialized under `GLOBAL` as well, as Postfix's one-client-per-process smtpd never has
//! two at once. Authentication steps (which may wait on saslauthd) run in parallel.
//!
//! Options: libsasl2 reads `APP.conf` itself, but as the unprivileged process it could not
//! read a root-only file. The options that `crate::sasl::conf` loaded (through
//! `crate::secrets::read_file`, i.e. preloaded as root) are given to libsasl2 by a
//! `SASL_CB_GETOPT` callback, which libsasl2 asks before its own file: per connection
//! (`OptionSet`, kept alive by the connection; e.g. `pwcheck_method`, `saslauthd_path`,
//! `mech_list`), and process-wide for what libsasl2 reads at init. The process-wide set is
//! leaked when replaced (libsasl2 may keep the returned pointers); that happens only when a
//! new configuration is loaded.
//!
//! Logs: libsasl2's own messages through `SASL_CB_LOG`, as Postfix's xsasl_cyrus_log:
//! `warning: SASL authentication failure: ...`, `warning: SASL authentication problem: ...`,
//! `SASL authentication info: ...`.

use std::collections::BTreeMap;
use std::ffi::{CStr, CString, c_char, c_int, c_uint, c_ulong, c_void};
use std::ptr;
use std::sync::Mutex;

use sasl2_sys::prelude as sys;

/// libsasl2's process-wide state is set up and changed under this lock.
static GLOBAL: Mutex<()> = Mutex::new(());
/// The options libsasl2 is given (key -> value), replaced on reload; leaked.
static OPTIONS: Mutex<Option<&'static Options>> = Mutex::new(None);
/// The configuration directory given to libsasl2 (SASL_CB_GETCONFPATH); leaked.
static CONFPATH: Mutex<Option<&'static CStr>> = Mutex::new(None);

type Options = BTreeMap<CString, CString>;

/// A configuration's options, for the connections made with it.
#[derive(Default)]
pub struct OptionSet(Options);

/// Names only: values may be secrets.
impl std::fmt::Debug for OptionSet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.0.keys()).finish()
    }
}

impl OptionSet {
    pub fn new(options: &[(String, String)]) -> OptionSet {
        OptionSet(
            options
                .iter()
                .map(|(k, v)| (cstring(k), cstring(v)))
                .collect(),
        )
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

fn cstring(s: &str) -> CString {
    CString::new(s.replace('\0', "")).unwrap_or_default()
}

/// Install the options and configuration path libsasl2 is given from now on.
pub fn set_options(options: &[(String, String)], confpath: Option<&str>) {
    let map: Options = options
        .iter()
        .map(|(k, v)| (cstring(k), cstring(v)))
        .collect();
    *lock(&OPTIONS) = Some(Box::leak(Box::new(map)));
    *lock(&CONFPATH) = confpath.map(|p| &*Box::leak(cstring(p).into_boxed_c_str()));
}

/// SASL_CB_GETOPT: an option from the preloaded configuration, else SASL_FAIL (libsasl2
/// then uses its own defaults).
unsafe extern "C" fn getopt_cb(
    context: *mut c_void,
    _plugin: *const c_char,
    option: *const c_char,
    result: *mut *const c_char,
    len: *mut c_uint,
) -> c_int {
    if option.is_null() || result.is_null() {
        return sys::SASL_BADPARAM;
    }
    // SAFETY: libsasl2 passes a NUL-terminated option name, checked non-null above.
    let name = unsafe { CStr::from_ptr(option) };
    let value = if context.is_null() {
        match *lock(&OPTIONS) {
            Some(opts) => opts.get(name),
            None => None,
        }
    } else {
        // SAFETY: a non-null context is the OptionSet of a RawConn, which keeps it alive
        // (Arc) until after sasl_dispose.
        unsafe { &*context.cast::<OptionSet>() }.0.get(name)
    };
    let Some(value) = value else {
        return sys::SASL_FAIL;
    };
    // SAFETY: `result` is non-null (checked) and `len` is null or writable, per sasl.h;
    // the value lives as long as the connection (per-connection set) or forever (leaked
    // process-wide set).
    unsafe {
        *result = value.as_ptr();
        if !len.is_null() {
            *len = value.as_bytes().len() as c_uint;
        }
    }
    sys::SASL_OK
}

/// SASL_CB_GETCONFPATH: the directory of the configuration file that was loaded.
unsafe extern "C" fn confpath_cb(_context: *mut c_void, path: *mut *const c_char) -> c_int {
    let Some(p) = *lock(&CONFPATH) else {
        return sys::SASL_FAIL;
    };
    if path.is_null() {
        return sys::SASL_BADPARAM;
    }
    // SAFETY: `path` is non-null and writable; the string is leaked (lives forever).
    unsafe { *path = p.as_ptr() };
    sys::SASL_OK
}

/// SASL_CB_LOG: libsasl2's messages, at Postfix's levels.
unsafe extern "C" fn log_cb(_context: *mut c_void, level: c_int, message: *const c_char) -> c_int {
    if message.is_null() {
        return sys::SASL_OK;
    }
    // SAFETY: libsasl2 passes a NUL-terminated message, checked non-null above.
    let text = unsafe { CStr::from_ptr(message) }.to_string_lossy();
    super::log_library(level, &text);
    sys::SASL_OK
}

/// pthread mutexes for libsasl2 (`sasl_set_mutex`).
unsafe extern "C" fn mutex_alloc() -> *mut c_void {
    let m = Box::new(libc::PTHREAD_MUTEX_INITIALIZER);
    Box::into_raw(m).cast()
}

unsafe extern "C" fn mutex_lock(m: *mut c_void) -> c_int {
    // SAFETY: `m` came from mutex_alloc (a boxed, initialized pthread mutex) and is not freed
    // while libsasl2 uses it.
    let rc = unsafe { libc::pthread_mutex_lock(m.cast()) };
    if rc == 0 {
        sys::SASL_OK
    } else {
        sys::SASL_FAIL
    }
}

unsafe extern "C" fn mutex_unlock(m: *mut c_void) -> c_int {
    // SAFETY: as for mutex_lock; libsasl2 unlocks only what it locked.
    let rc = unsafe { libc::pthread_mutex_unlock(m.cast()) };
    if rc == 0 {
        sys::SASL_OK
    } else {
        sys::SASL_FAIL
    }
}

unsafe extern "C" fn mutex_free(m: *mut c_void) {
    if m.is_null() {
        return;
    }
    // SAFETY: `m` came from Box::into_raw in mutex_alloc and libsasl2 frees it once, unlocked.
    unsafe {
        libc::pthread_mutex_destroy(m.cast());
        drop(Box::from_raw(m.cast::<libc::pthread_mutex_t>()));
    }
}

fn callback(id: c_ulong, f: Option<unsafe extern "C" fn() -> c_int>) -> sys::sasl_callback_t {
    sys::sasl_callback_t {
        id,
        proc_: f,
        context: ptr::null_mut(),
    }
}

type Generic = unsafe extern "C" fn() -> c_int;
type GetOpt = unsafe extern "C" fn(
    *mut c_void,
    *const c_char,
    *const c_char,
    *mut *const c_char,
    *mut c_uint,
) -> c_int;
type GetPath = unsafe extern "C" fn(*mut c_void, *mut *const c_char) -> c_int;
type Log = unsafe extern "C" fn(*mut c_void, c_int, *const c_char) -> c_int;

fn getopt_generic() -> Generic {
    // SAFETY: libsasl2 stores callbacks as a generic function pointer and calls each one
    // with the signature its id stands for (sasl.h: SASL_CB_GETOPT); this restores it.
    unsafe { std::mem::transmute::<GetOpt, Generic>(getopt_cb) }
}

/// The global callbacks: kept by libsasl2 for the life of the process (leaked).
fn global_callbacks() -> &'static [sys::sasl_callback_t] {
    // SAFETY: as in getopt_generic, for SASL_CB_GETCONFPATH and SASL_CB_LOG.
    let (g, c, l) = unsafe {
        (
            getopt_generic(),
            std::mem::transmute::<GetPath, Generic>(confpath_cb),
            std::mem::transmute::<Log, Generic>(log_cb),
        )
    };
    let list = vec![
        callback(sys::SASL_CB_GETOPT, Some(g)),
        callback(sys::SASL_CB_GETCONFPATH, Some(c)),
        callback(sys::SASL_CB_LOG, Some(l)),
        callback(sys::SASL_CB_LIST_END, None),
    ];
    Box::leak(list.into_boxed_slice())
}

/// `sasl_server_init` once per process (later calls only report the first result).
pub fn server_init(app: &str) -> Result<(), c_int> {
    static DONE: Mutex<Option<c_int>> = Mutex::new(None);
    let mut done = lock(&DONE);
    if let Some(rc) = *done {
        return if rc == sys::SASL_OK { Ok(()) } else { Err(rc) };
    }
    let _g = lock(&GLOBAL);
    let app = Box::leak(cstring(app).into_boxed_c_str());
    let cbs = global_callbacks();
    // SAFETY: the mutex functions match sasl.h's types and are installed before any other
    // libsasl2 call; the callback list and app name are leaked, so they outlive libsasl2's
    // use of them; init runs once, under DONE.
    let rc = unsafe {
        sys::sasl_set_mutex(
            Some(mutex_alloc),
            Some(mutex_lock),
            Some(mutex_unlock),
            Some(mutex_free),
        );
        sys::sasl_server_init(cbs.as_ptr(), app.as_ptr())
    };
    *done = Some(rc);
    if rc == sys::SASL_OK { Ok(()) } else { Err(rc) }
}

/// An owned libsasl2 server connection, with the callbacks and options it uses.
pub struct RawConn {
    conn: *mut sys::sasl_conn_t,
    _callbacks: Box<[sys::sasl_callback_t]>,
    _options: std::sync::Arc<OptionSet>,
}

/// The parameters of `sasl_server_new`.
pub struct NewArgs<'a> {
    pub service: &'a str,
    pub fqdn: &'a str,
    pub realm: Option<&'a str>,
    pub local: Option<&'a str>,
    pub remote: Option<&'a str>,
}

impl RawConn {
    pub fn new(a: &NewArgs<'_>, options: std::sync::Arc<OptionSet>) -> Result<RawConn, c_int> {
        let ctx = std::sync::Arc::as_ptr(&options).cast_mut().cast::<c_void>();
        let callbacks: Box<[sys::sasl_callback_t]> = Box::new([
            sys::sasl_callback_t {
                id: sys::SASL_CB_GETOPT,
                proc_: Some(getopt_generic()),
                context: ctx,
            },
            callback(sys::SASL_CB_LIST_END, None),
        ]);
        let service = cstring(a.service);
        let fqdn = cstring(a.fqdn);
        let realm = a.realm.map(cstring);
        let local = a.local.map(cstring);
        let remote = a.remote.map(cstring);
        let opt = |s: &Option<CString>| s.as_ref().map_or(ptr::null(), |c| c.as_ptr());
        let mut conn = ptr::null_mut();
        let _g = lock(&GLOBAL);
        // SAFETY: every string is a live CString (or null where sasl.h allows it); libsasl2
        // copies them; the callback list and its context (the OptionSet) are owned by the
        // RawConn and outlive `conn`; `conn` receives a new connection that RawConn owns.
        let rc = unsafe {
            sys::sasl_server_new(
                service.as_ptr(),
                fqdn.as_ptr(),
                opt(&realm),
                opt(&local),
                opt(&remote),
                callbacks.as_ptr(),
                0,
                &mut conn,
            )
        };
        let raw = RawConn {
            conn,
            _callbacks: callbacks,
            _options: options,
        };
        if rc == sys::SASL_OK && !conn.is_null() {
            Ok(raw)
        } else {
            Err(rc)
        }
    }

    /// Set the security flags; no security layer (max_ssf 0), as Postfix does.
    pub fn set_security(&mut self, flags: c_uint, external_ssf: c_uint) -> Result<(), c_int> {
        let props = sys::sasl_security_properties_t {
            min_ssf: 0,
            max_ssf: 0,
            maxbufsize: 0,
            security_flags: flags,
            property_names: ptr::null_mut(),
            property_values: ptr::null_mut(),
        };
        let ssf: sys::sasl_ssf_t = external_ssf;
        // SAFETY: self.conn is a live connection; libsasl2 copies both structures.
        let rc = unsafe {
            let r = sys::sasl_setprop(
                self.conn,
                sys::SASL_SSF_EXTERNAL as c_int,
                (&ssf as *const sys::sasl_ssf_t).cast(),
            );
            if r == sys::SASL_OK {
                sys::sasl_setprop(
                    self.conn,
                    sys::SASL_SEC_PROPS as c_int,
                    (&props as *const sys::sasl_security_properties_t).cast(),
                )
            } else {
                r
            }
        };
        if rc == sys::SASL_OK { Ok(()) } else { Err(rc) }
    }

    /// The mechanisms this connection offers, separated by spaces.
    pub fn listmech(&mut self) -> Result<String, c_int> {
        let mut out: *const c_char = ptr::null();
        let mut count: c_int = 0;
        let (empty, space) = (c"", c" ");
        let _g = lock(&GLOBAL);
        // SAFETY: live connection, NUL-terminated separators; `out` points into memory the
        // connection owns until its next call, and is copied at once.
        let rc = unsafe {
            sys::sasl_listmech(
                self.conn,
                ptr::null(),
                empty.as_ptr(),
                space.as_ptr(),
                empty.as_ptr(),
                &mut out,
                ptr::null_mut(),
                &mut count,
            )
        };
        if rc != sys::SASL_OK || out.is_null() {
            return Err(rc);
        }
        // SAFETY: libsasl2 returned a NUL-terminated string, non-null (checked).
        Ok(unsafe { CStr::from_ptr(out) }
            .to_string_lossy()
            .into_owned())
    }

    /// `sasl_server_start` (mech, optional initial response): the status and output.
    pub fn start(&mut self, mech: &str, input: Option<&[u8]>) -> (c_int, Vec<u8>) {
        let mech = cstring(mech);
        let (p, n) = match input {
            Some(b) => (b.as_ptr().cast::<c_char>(), b.len() as c_uint),
            None => (ptr::null(), 0),
        };
        let mut out: *const c_char = ptr::null();
        let mut outlen: c_uint = 0;
        // SAFETY: live connection; the input is a borrowed slice of `n` bytes (or null with
        // 0); libsasl2 owns `out`, which is copied before the next call.
        let rc = unsafe {
            sys::sasl_server_start(self.conn, mech.as_ptr(), p, n, &mut out, &mut outlen)
        };
        (rc, copy_out(out, outlen))
    }

    /// `sasl_server_step` with the decoded client response.
    pub fn step(&mut self, input: &[u8]) -> (c_int, Vec<u8>) {
        let mut out: *const c_char = ptr::null();
        let mut outlen: c_uint = 0;
        // SAFETY: as in `start`.
        let rc = unsafe {
            sys::sasl_server_step(
                self.conn,
                input.as_ptr().cast(),
                input.len() as c_uint,
                &mut out,
                &mut outlen,
            )
        };
        (rc, copy_out(out, outlen))
    }

    /// The authenticated (or attempted) user name, SASL_USERNAME.
    pub fn username(&self) -> Option<String> {
        let mut v: *const c_void = ptr::null();
        // SAFETY: live connection; the value is a NUL-terminated string the connection owns,
        // copied at once.
        unsafe {
            if sys::sasl_getprop(self.conn, sys::SASL_USERNAME as c_int, &mut v) != sys::SASL_OK
                || v.is_null()
            {
                return None;
            }
            Some(CStr::from_ptr(v.cast()).to_string_lossy().into_owned())
        }
    }
}

fn copy_out(out: *const c_char, len: c_uint) -> Vec<u8> {
    if out.is_null() || len == 0 {
        return Vec::new();
    }
    // SAFETY: libsasl2 returned `len` readable bytes at `out` (non-null, checked).
    unsafe { std::slice::from_raw_parts(out.cast::<u8>(), len as usize) }.to_vec()
}

impl Drop for RawConn {
    fn drop(&mut self) {
        if self.conn.is_null() {
            return;
        }
        let _g = lock(&GLOBAL);
        // SAFETY: the connection is owned by this RawConn and disposed of exactly once.
        unsafe { sys::sasl_dispose(&mut self.conn) };
    }
}

/// libsasl2's text for a status code (`sasl_errstring`), e.g. "authentication failure".
pub fn errstring(rc: c_int) -> String {
    // SAFETY: sasl_errstring returns a static NUL-terminated string (never freed).
    let p = unsafe { sys::sasl_errstring(rc, ptr::null(), ptr::null_mut()) };
    if p.is_null() {
        return "(reason unavailable)".to_string();
    }
    // SAFETY: non-null static string, see above.
    unsafe { CStr::from_ptr(p) }.to_string_lossy().into_owned()
}
