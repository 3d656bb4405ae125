#!/usr/bin/env python3
"""Builds races.json from hand-written anchors (the text of the racy lines).

Each spec names the racy statement(s) by their text in the BEFORE version and the
must-not-report site by its text in the FIXED version; this script only turns the
anchors into line numbers (reading the files with `git show COMMIT:PATH` from the
mirrors), so the labels stay reviewable.  Only stdlib.

usage: python build_labels.py [--mirrors /work/.mirror] > races.json
"""
import json
import os
import subprocess
import sys

MIRRORS = "/work/.mirror"


def mirror(repo, root=MIRRORS):
    return os.path.join(root, repo.replace("/", "+"), "repo")


def git(repo, *args):
    return subprocess.run(["git", "--git-dir", mirror(repo)] + list(args),
                          check=True, capture_output=True, text=True).stdout


def locate(text, start, end=None, after=None):
    """1-based [first, last]: first line containing `start` (searching from the first
    line containing `after`, if given), last = first line at/after it containing `end`."""
    lines = text.splitlines()
    i0 = 0
    for a in ([after] if isinstance(after, str) else after or []):
        i0 = next(i for i in range(i0, len(lines)) if a in lines[i])
    s = next(i for i in range(i0, len(lines)) if start in lines[i])
    e = s
    if end:
        e = next(i for i in range(s, len(lines)) if end in lines[i])
    assert e - s <= 8, (start, end, s, e)
    return [s + 1, e + 1]


# (id, repo, fix sha, package, path, before anchors, fix anchors, shape, consequence, why_shared)
# anchors: dict(start=..., end=..., after=..., path=... (fix path if different))
SPECS = [
 ("redis-lock-token", "redis/redis-py", "643d76d9", "redis", "redis/lock.py",
  dict(after="def release(self)", start="if self.token is None", end="self.token = None"),
  dict(after="def release(self)", start="expected_token = self.token", end="self.token = None"),
  "shared-instance-attr", "Two threads releasing the same Lock both pass the token check; the token is cleared after the remote call, so one release can overwrite/clear a token another thread just set (lost update).",
  "A redis Lock object is shared between threads (token not thread-local), release() reads and writes self.token without a lock."),
 ("redis-lock-acquired-until", "redis/redis-py", "7d570e47", "redis", "redis/client.py",
  dict(after="def release(self)", start="if existing >= self.acquired_until", end="self.acquired_until = None"),
  dict(after="def release(self)", start="delete_lock = existing >= self.acquired_until", end="self.acquired_until = None"),
  "shared-instance-attr", "Check of self.acquired_until and its reset are separated by a network call; a concurrent acquire() can set a new value that release() then clears (lost update / lock deleted while held).",
  "The same Lock instance is used from several threads; acquire() and release() both write self.acquired_until."),
 ("redis-conn-disconnect-sock", "redis/redis-py", "ac15d529", "redis", "redis/connection.py",
  dict(after="def disconnect(self, *args)", start="if self._sock is None", end="self._sock.shutdown(socket.SHUT_RDWR)"),
  dict(after="def disconnect(self, *args)", start="conn_sock = self._sock", end="self._sock = None"),
  "shared-instance-attr", "Two threads in disconnect() both see self._sock not None; one sets it to None and the other calls self._sock.close() on None (AttributeError).",
  "A Connection is used by a PubSubWorkerThread and by the main thread calling PubSub.close(); both call disconnect()."),
 ("redis-pool-lock-reset", "redis/redis-py", "9dfaeae4", "redis", "redis/connection.py",
  dict(after="def reset(self)", start="self._lock = threading.Lock()"),
  dict(after="def __init__(", start="self._lock = threading.Lock()"),
  "lock-misuse", "reset() replaces the pool's lock while other threads may hold or wait on the old one, so two threads can be in the critical section at once (corrupted pool lists).",
  "The ConnectionPool is shared by all threads using the client; reset() runs from _checkpid() at any time while other threads use self._lock."),
 ("redis-pubsub-pending-unsubscribe", "redis/redis-py", "29879bb6", "redis", "redis/client.py",
  dict(after="def unsubscribe(self, *args)", start="retval = self.execute_command('UNSUBSCRIBE', *args)", end="self.pending_unsubscribe_channels.update(channels)"),
  dict(after="def unsubscribe(self, *args)", start="self.pending_unsubscribe_channels.update(channels)"),
  "object-container", "The set is updated only after the command is sent, so the worker thread can process the server's unsubscribe reply before the channel is in pending_unsubscribe_channels (stale channel state).",
  "PubSub.unsubscribe() runs in the caller's thread while a PubSubWorkerThread reads replies and handles pending_unsubscribe_channels."),
 ("redis-async-single-conn-init", "redis/redis-py", "428d6094", "redis", "redis/asyncio/client.py",
  dict(after="async def initialize(self", start="if self.single_connection_client and self.connection is None", end="self.connection = await"),
  dict(after="async def initialize(self", start="if self.connection is None", end="self.connection = await"),
  "coroutine-self", "Concurrent coroutines (asyncio.gather) both see self.connection None, both await get_connection and the second overwrites the first (double init, leaked connection, interleaved commands).",
  "One asyncio Redis client in single-connection mode is awaited from many tasks at once."),
 ("redis-async-cluster-command-stack", "redis/redis-py", "ae171d16", "redis", "redis/asyncio/cluster.py",
  dict(after="async def execute_pipeline(self)", start="for cmd in self._command_stack", end="cmd.result = await"),
  dict(after="async def execute_pipeline(self", start="for cmd in commands", end="cmd.result = await"),
  "coroutine-self", "Two concurrent pipelines share node._command_stack; one resets/appends to it while the other awaits inside the loop over it (commands of one pipeline executed/answered by another).",
  "ClusterNode objects are shared by every pipeline of the async RedisCluster; pipelines run as concurrent tasks."),
 ("sentry-profiler-buffer-flush", "getsentry/sentry-python", "2ce933d37", "sentry_sdk", "sentry_sdk/profiler/continuous_profiler.py",
  dict(after="last = time.perf_counter()", start="if self.buffer is not None", end="self.buffer = None"),
  dict(after="last = time.perf_counter()", start="buffer = self.buffer", end="buffer.flush()"),
  "shared-instance-attr", "The sampler thread checks self.buffer then uses it while start/stop in another thread replaces or clears it (AttributeError on None / lost buffer).",
  "The ContinuousScheduler is a process-wide singleton; its sampler thread and application threads (start/stop profiler) share self.buffer."),
 ("sentry-profiler-teardown-buffer", "getsentry/sentry-python", "fe7e848e6", "sentry_sdk", "sentry_sdk/profiler/continuous_profiler.py",
  dict(after="class ThreadContinuousScheduler", start="self.buffer = None"),
  dict(after="class ThreadContinuousScheduler", start="self.thread = None", after2=None),
  "shared-instance-attr", "teardown() sets self.buffer = None while the sampler thread of a fast start/stop cycle is still using it (AttributeError on None).",
  "The scheduler singleton is torn down from an application thread while its sampler thread runs."),
 ("sentry-flag-buffer", "getsentry/sentry-python", "d9372724a", "sentry_sdk", "sentry_sdk/feature_flags.py",
  dict(after="def get(self)", start="for key, value in self.buffer.get_all()"),
  dict(after="def get(self)", start="self.__buffer.get_all()"),
  "object-container", "The LRU buffer is read/copied while another thread sets a flag (RuntimeError: dictionary changed size during iteration).",
  "The FlagBuffer lives on a scope shared between threads; flags are added from request threads while errors deep-copy/read it."),
 ("sentry-span-recorder-del", "getsentry/sentry-python", "44b18cb15", "sentry_sdk", "sentry_sdk/tracing.py",
  dict(after="def finish(", start="del self._span_recorder"),
  dict(after="def finish(", start="self._span_recorder = None"),
  "shared-instance-attr", "finish() deletes the attribute while start_child() in another thread reads self._span_recorder (AttributeError).",
  "A Transaction is visible to every thread that starts child spans on it while the owner finishes it."),
 ("urllib3-poolmanager-get-set", "urllib3/urllib3", "29a57df9", "urllib3", "urllib3/poolmanager.py",
  dict(after="def connection_from_host(", start="pool = self.pools.get(pool_key)", end="self.pools[pool_key] = pool"),
  dict(after="def connection_from_host(", start="pool = self.pools.get(pool_key)"),
  "object-container", "Check-then-act on self.pools: two threads both miss and both create a pool; one overwrites the other, whose eviction disposes a pool still in use.",
  "One PoolManager (e.g. a requests Session) is used by many threads."),
 ("urllib3-ruc-keys-view", "urllib3/urllib3", "26666291", "urllib3", "urllib3/_collections.py",
  dict(after="def keys(self)", start="return self._container.keys()"),
  dict(after="def keys(self)", start="return list(iterkeys(self._container))"),
  "object-container", "keys() returns a live view of the OrderedDict that callers iterate outside the lock while other threads insert/evict (RuntimeError: changed size during iteration).",
  "RecentlyUsedContainer is the pool map of a PoolManager shared by threads."),
 ("urllib3-ruc-access-log", "urllib3/urllib3", "63b29d39", "urllib3", "urllib3/_collections.py",
  dict(after="def _prune_invalidated_entries(self)", start="self.access_log = deque(e for e in self.access_log if e.is_valid)"),
  dict(after="def _prune_invalidated_entries(self)", start="self.access_log = deque(e for e in self.access_log if e.is_valid)"),
  "object-container", "The deque is rebuilt by iterating it while other threads appendleft/pop (RuntimeError: deque mutated during iteration, lost entries).",
  "RecentlyUsedContainer backs the PoolManager's pools shared across threads."),
 ("urllib3-ruc-prune-del", "urllib3/urllib3", "fffd5b60", "urllib3", "urllib3/_collections.py",
  dict(after="def _prune_entries(self, num)", start="del self._container[p.key]", end="del self.access_lookup[p.key]"),
  dict(after="def _prune_entries(self, num)", start="self._container.pop(p.key, None)", end="self.access_lookup.pop(p.key, None)"),
  "object-container", "Two threads prune the same entry; the second del raises KeyError.",
  "RecentlyUsedContainer is shared by the threads using one PoolManager."),
 ("kazoo-auth-data-iter", "python-zk/kazoo", "de20be9", "kazoo", "kazoo/protocol/connection.py",
  dict(after="client._session_callback(KeeperState.CONNECTED)", start="for scheme, auth in client.auth_data"),
  dict(after="client._session_callback(KeeperState.CONNECTED)", start="for scheme, auth in client_auth_data_copy"),
  "object-container", "The connection thread iterates client.auth_data while add_auth() in a user thread adds to it (RuntimeError: Set changed size during iteration).",
  "client.auth_data is a set on the KazooClient, written by user threads (add_auth) and read by the connection thread on (re)connect."),
 ("kazoo-asyncresult-wait", "python-zk/kazoo", "4d268ad", "kazoo", "kazoo/handlers/utils.py",
  dict(after="def wait(self, timeout=None)", start="self._condition.wait(timeout)"),
  dict(after="def wait(self, timeout=None)", start="if not self.ready()", end="self._condition.wait(timeout)"),
  "lock-misuse", "wait() waits on the condition without checking the result state under it, so a result set just before the wait is missed (lost wakeup, waits the full timeout).",
  "An AsyncResult is completed by the connection/handler thread while a user thread waits on it."),
 ("apscheduler-executors-wrong-lock", "agronholm/apscheduler", "834467a", "apscheduler", "apscheduler/schedulers/base.py",
  dict(after="def remove_executor(", start="with self._jobstores_lock", end="del self._executors[alias]"),
  dict(after="def remove_executor(", start="with self._executors_lock", end="del self._executors[alias]"),
  "lock-misuse", "self._executors is mutated under the job-stores lock instead of the executors lock, so it races with add_executor/_lookup_executor (KeyError, lost executor).",
  "The scheduler is called from application threads while its own thread looks up executors."),
 ("apscheduler-threadpool-threads", "agronholm/apscheduler", "f60d4aa", "apscheduler", "apscheduler/threadpool.py",
  dict(after="def shutdown(self", start="for thread in tuple(self._threads)"),
  dict(after="def shutdown(self", start="threads = tuple(self._threads)"),
  "object-container", "tuple(self._threads) iterates the set while worker threads remove themselves from it (RuntimeError: Set changed size during iteration).",
  "Worker threads add/remove themselves in self._threads while shutdown() runs in the caller's thread."),
 ("apscheduler-notify-listeners", "agronholm/apscheduler", "d9f626f", "apscheduler", "apscheduler/scheduler.py",
  dict(after="def _notify_listeners(self, event)", start="for cb, mask in tuple(self._listeners)"),
  dict(after="def _notify_listeners(self, event)", start="listeners = tuple(self._listeners)"),
  "object-container", "The listener list is copied without the listeners lock while add/remove_listener mutate it from other threads (inconsistent snapshot / changed size during iteration).",
  "Listeners are added by application threads; events are dispatched from the scheduler and worker threads."),
 ("apscheduler-local-broker-subscriptions", "agronholm/apscheduler", "0a6b0f6", "src/apscheduler", "src/apscheduler/eventbrokers/local.py",
  dict(after="def publish_local(self, event", start="for subscription in list(self._subscriptions.values())"),
  dict(after="def publish_local(self, event", start="for subscription in self._subscriptions.values()"),
  "object-container", "publish_local copies/iterates self._subscriptions while subscribe/unsubscribe in other threads mutate the dict (RuntimeError: dictionary changed size during iteration).",
  "The LocalEventBroker is shared by the scheduler, its workers and user threads that subscribe."),
 ("paho-mid-generate", "eclipse/paho.mqtt.python", "271726e", "src/paho", "src/paho/mqtt/client.py",
  dict(after="def _mid_generate(self)", start="self._last_mid += 1", end="return self._last_mid"),
  dict(after="def _mid_generate(self)", start="self._last_mid += 1"),
  "shared-instance-attr", "Unlocked read-modify-write of self._last_mid: two publishing threads get the same message id (lost update).",
  "publish() is called from user threads while the network thread (loop_start) also generates ids."),
 ("paho-thread-terminate", "eclipse/paho.mqtt.python", "a3e8e69", "src/paho", "src/paho/mqtt/client.py",
  dict(after="def _thread_main(self)", start="self._thread_terminate = False"),
  dict(after="def loop_start(self)", start="self._thread_terminate = False"),
  "shared-instance-attr", "The network thread resets the terminate flag after it starts, overwriting a loop_stop() request made meanwhile (thread never ends).",
  "loop_start() starts the network thread; loop_stop() from the caller's thread sets the same flag."),
 ("paho-sock-published-early", "eclipse/paho.mqtt.python", "4643eca", "src/paho", "src/paho/mqtt/client.py",
  dict(after="def reconnect(self)", start="self._sock = socket.create_connection((self._host, self._port))"),
  dict(after="def reconnect(self)", start="self._sock = sock"),
  "shared-instance-attr", "self._sock is published before TLS wrapping and the CONNECT packet, so a publishing thread can write plaintext PUBLISH data on it (value published before it is ready).",
  "publish() from user threads writes to self._sock/self._ssl while reconnect() runs in the network thread."),
 ("dramatiq-worker-pause", "Bogdanp/dramatiq", "199d88f", "dramatiq", "dramatiq/worker.py",
  dict(after="def pause(self)", start="self.paused_event.clear()", end="self.paused = True"),
  dict(after="def pause(self)", start="self.paused = True", end="self.paused_event.clear()"),
  "shared-instance-attr", "The event is cleared before the flag is set, so the worker thread can set the event for the old state in between and the caller sees a stale 'paused' (flag published after the signal).",
  "pause()/resume() run in the main thread; the _WorkerThread reads self.paused and sets paused_event."),
 ("kombu-hub-ready-set", "celery/kombu", "aab2588c", "kombu", "kombu/asynchronous/hub.py",
  dict(after="def close(self", start="todos = list(self._ready)", end="self._ready = set()"),
  dict(after="def call_soon(self", start="with self._ready_lock", end="self._ready.add(callback)"),
  "object-container", "list(self._ready) iterates the set while call_soon() in another thread adds to it (RuntimeError: Set changed size during iteration), and adds between the copy and the reset are lost.",
  "The Hub's call_soon() is used from other threads (e.g. celery's thread-based components) while the event loop thread drains _ready."),
 ("kombu-cached-property-get", "celery/kombu", "56051828", "kombu", "kombu/utils/objects.py",
  dict(after="def __get__(self, obj", start="return obj.__dict__[self.__name__]", end="value = obj.__dict__[self.__name__] = self.__get(obj)"),
  dict(after="def __get__(self, instance", start="return super().__get__(instance, owner)"),
  "lazy-init-self", "EAFP lazy initialisation in the instance __dict__: two threads both miss and both compute the value (double init, e.g. two connections/pools created, one leaked).",
  "cached_property is used on Connection/Producer objects shared between threads."),
 ("kombu-sqla-class-registry", "celery/kombu", "8f1de37a", "kombu", "kombu/transport/sqlalchemy/__init__.py",
  dict(after="def _declarative_cls(self", start="if name in class_registry", end="return type(str(name), (base, ModelBase), ns)"),
  dict(after="def _declarative_cls(self", start="if name in class_registry", end="return class_registry[name]"),
  "cross-module", "Check-then-create on the declarative class registry imported from kombu's models module: two threads both create the model class (InvalidRequestError: Table already defined, broken mapper).",
  "class_registry is a module-level dict in kombu.transport.sqlalchemy.models, shared by every Channel created in any thread."),
 ("kombu-sqla-engines", "celery/kombu", "91d4ef0a", "kombu", "kombu/transport/sqlalchemy/__init__.py",
  dict(after="def _open(self)", start="if conninfo.hostname not in self._engines", end="self._engines[conninfo.hostname] = engine, Session"),
  dict(after="def _open(self)", start="if conninfo.hostname in self._engines"),
  "cross-module", "Check-then-act on the class-level engine cache: two threads both create the engine and run create_all (IntegrityError, duplicate engines).",
  "Channel._engines is a class attribute (engine cache) shared by all Channel instances in all threads."),
 ("tornado-ioloop-for-asyncio-check", "tornadoweb/tornado", "a619885c", "tornado", "tornado/platform/asyncio.py",
  dict(after="def initialize(", start="if asyncio_loop in IOLoop._ioloop_for_asyncio", end="existing_loop = IOLoop._ioloop_for_asyncio[asyncio_loop]"),
  dict(after="def initialize(", start="existing_loop = IOLoop._ioloop_for_asyncio.setdefault(asyncio_loop, self)"),
  "cross-module", "Check-then-act on the class-level registry IOLoop._ioloop_for_asyncio: two threads can both associate an IOLoop with the same asyncio loop.",
  "IOLoop._ioloop_for_asyncio is a class-level dict (defined in tornado.ioloop) written by IOLoops created in any thread."),
 ("tornado-ioloop-for-asyncio-iter", "tornadoweb/tornado", "3de78b7a", "tornado", "tornado/platform/asyncio.py",
  dict(after="def initialize(", start="for loop in list(IOLoop._ioloop_for_asyncio)", end="del IOLoop._ioloop_for_asyncio[loop]"),
  dict(after="def initialize(", start="for loop in IOLoop._ioloop_for_asyncio.copy()"),
  "cross-module", "Iterating the class-level dict while other threads add/remove loops (RuntimeError: dictionary changed size during iteration), and the del can raise KeyError.",
  "IOLoop._ioloop_for_asyncio is shared by every thread that creates or closes an IOLoop."),
 ("tornado-ioloop-close-order", "tornadoweb/tornado", "b167433b", "tornado", "tornado/platform/asyncio.py",
  dict(after="def close(self", start="self.asyncio_loop.close()", end="del IOLoop._ioloop_for_asyncio[self.asyncio_loop]"),
  dict(after="def close(self", start="del IOLoop._ioloop_for_asyncio[self.asyncio_loop]"),
  "cross-module", "The loop is closed before its registry entry is removed; initialize() in another thread sees the closed loop and deletes the entry first, so this del raises KeyError.",
  "IOLoop._ioloop_for_asyncio is a class-level registry used by IOLoops in all threads."),
 ("tornado-catch-warnings", "tornadoweb/tornado", "ba068451", "tornado", "tornado/platform/asyncio.py",
  dict(after="def start(self)", start="with warnings.catch_warnings()", end="old_loop = asyncio.get_event_loop()"),
  dict(after="def start(self)", start="old_loop = _get_event_loop()"),
  "cross-module", "warnings.catch_warnings() saves and restores the process-wide warnings.filters list; concurrent IOLoop.start() calls in two threads restore each other's filters (lost/garbled warning filters).",
  "warnings.filters is a module global of the warnings module, shared by every thread that starts an IOLoop."),
 ("tornado-add-callback-wake", "tornadoweb/tornado", "8e7effda", "tornado", "tornado/ioloop.py",
  dict(after="def add_callback(self", start="if list_empty and thread.get_ident() != self._thread_ident", end="self._waker.wake()"),
  dict(after="def add_callback(self", start="if list_empty and thread.get_ident() != self._thread_ident", end="self._waker.wake()"),
  "lock-misuse", "The waker is written outside the callback lock, racing with close() in the IOLoop thread that closes the waker (write to a closed pipe).",
  "add_callback() is the one IOLoop method meant to be called from other threads."),
 ("jinja-lru-setdefault", "pallets/jinja", "d4e54382", "jinja2", "jinja2/utils.py",
  dict(after="def setdefault(self, key", start="return self[key]", end="self[key] = default"),
  dict(after="def setdefault(self, key", start="return self[key]"),
  "object-container", "EAFP get-or-set on the LRU cache without the write lock: two threads both miss and both insert, the queue gets a duplicate key (inconsistent cache, later ValueError/KeyError).",
  "The LRUCache is an Environment's template cache shared by all request threads."),
 ("botocore-component-deferred-del", "boto/botocore", "22ca5282f", "botocore", "botocore/session.py",
  dict(after="def get_component(self, name)", start="del self._deferred[name]"),
  dict(after="def get_component(self, name)", start="del self._deferred[name]"),
  "object-container", "Two threads create the same deferred component; the second del self._deferred[name] raises KeyError.",
  "A botocore Session (and its ComponentLocator) is shared by threads creating clients."),
 ("botocore-deferred-credentials", "boto/botocore", "f141cc2b6", "botocore", "botocore/credentials.py",
  dict(after="class DeferredRefreshableCredentials", start="if any(part is None for part in [self._access_key, self._secret_key])"),
  dict(after="class DeferredRefreshableCredentials", start="if self._frozen_credentials is None"),
  "shared-instance-attr", "Other threads see _access_key/_secret_key set (published before _frozen_credentials) and return the still-None frozen credentials (NoCredentialsError).",
  "One credentials object is shared by all clients/threads of a session; the refreshing thread writes the fields others read."),
 ("botocore-sigv4-timestamp", "boto/botocore", "df23064cf", "botocore", "botocore/auth.py",
  dict(after=["class SigV4Auth", "def add_auth(self, request)"], start="self._now = datetime.datetime.utcnow()", end="self.timestamp = self._now.strftime"),
  dict(after=["class SigV4Auth", "def add_auth(self, request)"], start="request.context['timestamp']"),
  "shared-instance-attr", "Per-request timestamp stored on the shared signer: a second thread's add_auth overwrites self.timestamp between computing the scope and the signature (signature mismatch).",
  "One SigV4Auth signer belongs to a client that many threads use."),
 ("gunicorn-loggers-dict", "benoitc/gunicorn", "f186fa3a", "gunicorn", "gunicorn/glogging.py",
  dict(after="def loggers()", start="existing = root.manager.loggerDict.keys()", end="return [logging.getLogger(name) for name in existing]"),
  dict(after="def loggers()", start="existing = list(root.manager.loggerDict.keys())"),
  "cross-module", "Iterating the logging module's global loggerDict while another thread creates a logger (RuntimeError: dictionary changed size during iteration).",
  "logging.root.manager.loggerDict is global state of the logging module; any thread calling getLogger() adds to it."),
 ("gunicorn-reloader-sys-modules", "benoitc/gunicorn", "da5e847b", "gunicorn", "gunicorn/reloader.py",
  dict(after="def get_files(self)", start="for module in sys.modules.values()"),
  dict(after="def get_files(self)", start="for module in list(sys.modules.values())"),
  "cross-module", "The reloader thread iterates sys.modules while application threads import modules (RuntimeError: dictionary changed size during iteration).",
  "sys.modules is interpreter-global; the Reloader is a thread that walks it while workers import."),
 ("sqla-lambda-analyzed-code", "sqlalchemy/sqlalchemy", "117878f787", "lib/sqlalchemy", "lib/sqlalchemy/sql/lambdas.py",
  dict(after="class AnalyzedCode", start="cls._fns[fn.__code__] = analyzed = AnalyzedCode(", end="return analyzed"),
  dict(after="class AnalyzedCode", start="cls._fns[fn.__code__] = analyzed = AnalyzedCode("),
  "cross-module", "EAFP get-or-create on the class-level cache AnalyzedCode._fns: threads that miss together all analyse the lambda and overwrite each other (dogpile, corrupted tracker state).",
  "AnalyzedCode._fns is a class-level WeakKeyDictionary shared by every thread running lambda statements."),
 ("sqla-compiled-cache-check-get", "sqlalchemy/sqlalchemy", "b8a39b8636", "lib/sqlalchemy", "lib/sqlalchemy/engine/base.py",
  dict(after="def _execute_clauseelement(self", start="if key in self._execution_options['compiled_cache']", end="compiled_sql = self._execution_options['compiled_cache'][key]"),
  dict(after="def _execute_clauseelement(self", start="compiled_sql = self._execution_options['compiled_cache'].get(key)"),
  "object-container", "Check-then-get on the shared LRU compiled cache: another thread's insert evicts the key between the check and the read (KeyError).",
  "The compiled_cache dict/LRUCache in execution options is shared by all connections and threads of an engine/mapper."),
 ("sqla-declarative-configure-mutex", "sqlalchemy/sqlalchemy", "5039c6f01d", "lib/sqlalchemy", "lib/sqlalchemy/ext/declarative/base.py",
  dict(after="self._scan_attributes()", start="clsregistry.add_class(self.classname, self.cls)", end="self._extract_declared_columns()"),
  dict(after="self._scan_attributes()", start="clsregistry.add_class(self.classname, self.cls)"),
  "lock-misuse", "Declarative mapping mutates the mapper registry without _CONFIGURE_MUTEX, which configure_mappers() in other threads holds (half-configured mappers seen by other threads).",
  "The class registry / mapper configuration is global state; configure_mappers() runs in any thread that first uses a mapper, while another thread imports models."),
]


def build(root):
    out = []
    for (rid, repo, fix, package, path, before, after, shape, consequence, why) in SPECS:
        m = mirror(repo, root)
        full = git(repo, "rev-parse", fix).strip()
        parent = git(repo, "rev-parse", full + "^").strip()
        btext = git(repo, "show", f"{parent}:{path}")
        fpath = after.get("path", path)
        ftext = git(repo, "show", f"{full}:{fpath}")
        try:
            blines = locate(btext, before["start"], before.get("end"), before.get("after"))
            flines = locate(ftext, after["start"], after.get("end"), after.get("after"))
        except (StopIteration, AssertionError) as exc:
            sys.stderr.write(f"UNRESOLVED {rid}: {exc!r}\n")
            continue
        if "-v" in sys.argv:
            bl, fl = btext.splitlines(), ftext.splitlines()
            sys.stderr.write(f"== {rid} {path} {blines}\n")
            for i in range(blines[0] - 1, blines[1]):
                sys.stderr.write(f"  B{i+1}: {bl[i]}\n")
            for i in range(flines[0] - 1, flines[1]):
                sys.stderr.write(f"  F{i+1}: {fl[i]}\n")
        out.append({
            "id": rid, "repo": repo, "mirror": m, "fix_commit": full, "before_commit": parent,
            "package": package, "path": path, "lines": blines, "shape": shape,
            "consequence": consequence, "why_shared": why,
            "must_not_report": {"path": fpath, "lines": flines},
        })
    return out


if __name__ == "__main__":
    root = MIRRORS
    if "--mirrors" in sys.argv:
        root = sys.argv[sys.argv.index("--mirrors") + 1]
    json.dump(build(root), sys.stdout, indent=1)
    sys.stdout.write("\n")
