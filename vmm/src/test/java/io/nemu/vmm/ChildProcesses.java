package io.nemu.vmm;

import static org.junit.jupiter.api.Assertions.fail;

import java.util.List;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.stream.Collectors;

/** Tracks the pids a test started and checks that none of them, nor any QEMU/virtiofsd child, is left. */
public final class ChildProcesses implements Vm.Observer {
    private final Set<Long> pids = ConcurrentHashMap.newKeySet();

    @Override
    public void virtiofsdStarted(long pid) {
        pids.add(pid);
    }

    @Override
    public void qemuStarted(long pid) {
        pids.add(pid);
    }

    public void track(long pid) {
        pids.add(pid);
    }

    public Set<Long> pids() {
        return pids;
    }

    /** Fails if a tracked pid or a qemu/virtiofsd child of this JVM still runs (after a short grace). */
    public void assertNoneLeft() throws InterruptedException {
        List<String> left = List.of();
        for (int i = 0; i < 50; i++) {
            left = leftovers();
            if (left.isEmpty()) {
                return;
            }
            Thread.sleep(100);
        }
        // Do not leave them to the next test either.
        for (long pid : pids) {
            ProcessHandle.of(pid).ifPresent(ProcessHandle::destroyForcibly);
        }
        fail("processes left running: " + left);
    }

    private List<String> leftovers() {
        List<String> left = pids.stream().map(ProcessHandle::of).flatMap(java.util.Optional::stream)
                .filter(ProcessHandle::isAlive).map(h -> h.pid() + " " + h.info().command().orElse("?"))
                .collect(Collectors.toList());
        ProcessHandle.current().children().filter(ProcessHandle::isAlive)
                .filter(h -> h.info().command().map(c -> c.contains("qemu") || c.contains("virtiofsd")).orElse(false))
                .forEach(h -> left.add(h.pid() + " " + h.info().command().orElse("?") + " (child)"));
        return left;
    }
}
