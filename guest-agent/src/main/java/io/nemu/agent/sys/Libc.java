package io.nemu.agent.sys;

import com.sun.jna.LastErrorException;
import com.sun.jna.Library;
import com.sun.jna.Native;
import com.sun.jna.Pointer;
import com.sun.jna.ptr.IntByReference;

/**
 * The few libc calls the JDK lacks (Linux, 64-bit). Loaded on first use so that an agent that
 * never spawns or mounts pays nothing for JNA.
 */
public interface Libc extends Library {

    Libc C = Native.load("c", Libc.class);

    int O_RDONLY = 0;
    int O_RDWR = 2;
    int O_NONBLOCK = 0x800;
    int O_CLOEXEC = 0x80000;
    int O_NOCTTY = 0x100;
    int EFD_CLOEXEC = O_CLOEXEC;
    int IN_CLOEXEC = O_CLOEXEC;
    int IN_MODIFY = 0x2;

    int ECHILD = 10;
    int EINTR = 4;
    int EAGAIN = 11;
    int EIO = 5;
    int ESRCH = 3;
    int EINVAL = 22;

    long MS_RDONLY = 1;
    long MS_NOSUID = 2;
    long MS_NODEV = 4;
    long MS_NOEXEC = 8;
    long MS_SYNCHRONOUS = 16;
    long MS_REMOUNT = 32;
    long MS_NOATIME = 1024;
    long MS_NODIRATIME = 2048;
    long MS_BIND = 4096;
    long MS_REC = 16384;
    long MS_PRIVATE = 1 << 18;
    long MS_SLAVE = 1 << 19;
    long MS_SHARED = 1 << 20;
    long MS_RELATIME = 1 << 21;
    long MS_STRICTATIME = 1 << 24;
    int MNT_DETACH = 2;

    int PR_SET_CHILD_SUBREAPER = 36;
    int AF_UNIX = 1;
    int AF_VSOCK = 40;
    int SHUT_RDWR = 2;
    int SOCK_STREAM = 1;
    int SOCK_CLOEXEC = O_CLOEXEC;
    int POLLIN = 1;
    long TIOCSWINSZ = 0x5414;

    short POSIX_SPAWN_SETSIGDEF = 0x04;
    short POSIX_SPAWN_SETSIGMASK = 0x08;

    int pipe2(int[] fds, int flags) throws LastErrorException;

    int close(int fd) throws LastErrorException;

    /** Native memory only: JNA would give a byte[] a malloc and a copy each way per call (see {@link Fd}). */
    long read(int fd, Pointer buf, long count) throws LastErrorException;

    long write(int fd, Pointer buf, long count) throws LastErrorException;

    int open(String path, int flags, int mode) throws LastErrorException;

    int waitpid(int pid, int[] status, int options) throws LastErrorException;

    int kill(int pid, int sig) throws LastErrorException;

    int prctl(int option, long arg2, long arg3, long arg4, long arg5) throws LastErrorException;

    int mount(String source, String target, String fstype, long flags, String data) throws LastErrorException;

    int umount2(String target, int flags) throws LastErrorException;

    int socket(int domain, int type, int protocol) throws LastErrorException;

    int bind(int fd, byte[] addr, int len) throws LastErrorException;

    int listen(int fd, int backlog) throws LastErrorException;

    int connect(int fd, byte[] addr, int len) throws LastErrorException;

    int shutdown(int fd, int how) throws LastErrorException;

    int setsockopt(int fd, int level, int name, long[] value, int len) throws LastErrorException;

    int socketpair(int domain, int type, int protocol, int[] fds) throws LastErrorException;

    int accept4(int fd, Pointer addr, Pointer len, int flags) throws LastErrorException;

    long recvmsg(int fd, Pointer msghdr, int flags) throws LastErrorException;

    int poll(Pointer fds, long nfds, int timeoutMillis) throws LastErrorException;

    int ioctl(int fd, long request, Pointer arg) throws LastErrorException;

    int eventfd(int initval, int flags) throws LastErrorException;

    int inotify_init1(int flags) throws LastErrorException;

    int inotify_add_watch(int fd, String path, int mask) throws LastErrorException;

    int sethostname(String name, long len) throws LastErrorException;

    /** {@code buf}: a {@code struct statvfs} ({@link StatVfs#SIZE} bytes). */
    int statvfs(String path, Pointer buf) throws LastErrorException;

    int settimeofday(Pointer tv, Pointer tz) throws LastErrorException;

    // posix_spawn and friends return an error number instead of setting errno.
    int posix_spawnp(IntByReference pid, String file, Pointer fileActions, Pointer attr, String[] argv, String[] envp);

    int posix_spawn_file_actions_init(Pointer fa);

    int posix_spawn_file_actions_destroy(Pointer fa);

    int posix_spawn_file_actions_adddup2(Pointer fa, int fd, int newfd);

    int posix_spawn_file_actions_addclosefrom_np(Pointer fa, int from);

    int posix_spawnattr_init(Pointer attr);

    int posix_spawnattr_destroy(Pointer attr);

    int posix_spawnattr_setflags(Pointer attr, short flags);

    int posix_spawnattr_setsigmask(Pointer attr, Pointer sigset);

    int posix_spawnattr_setsigdefault(Pointer attr, Pointer sigset);

    int sigemptyset(Pointer set);

    int sigfillset(Pointer set);

    int sigdelset(Pointer set, int sig);

    String strerror(int errnum);

    /** A new pseudo-terminal's master (the debug console's terminal). */
    int posix_openpt(int flags) throws LastErrorException;

    int grantpt(int fd) throws LastErrorException;

    int unlockpt(int fd) throws LastErrorException;

    int ptsname_r(int fd, byte[] buf, long len);

    /** signal(2); only used to restore SIG_DFL (Pointer.NULL). */
    Pointer signal(int sig, Pointer handler);

    int SIGCHLD = 17;
}
