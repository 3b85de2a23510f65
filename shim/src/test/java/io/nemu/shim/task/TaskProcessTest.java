package io.nemu.shim.task;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.grpc.Status;
import io.nemu.shim.agent.Stdio;
import io.nemu.shim.errdefs.TaskException;
import java.time.Instant;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;

/** Each action checks, acts and moves the state under the process's lock. */
class TaskProcessTest {
    private static final Stdio NONE = new Stdio("", "", "", false);

    private static Status.Code refused(Runnable r) {
        return assertThrows(TaskException.class, r::run).code();
    }

    @Test
    void twoStartsRaceAndOnlyOneLaunches() throws Exception {
        TaskProcess p = new TaskProcess("c", "", NONE, 1);
        AtomicInteger launches = new AtomicInteger();
        CountDownLatch inLaunch = new CountDownLatch(1);
        CountDownLatch release = new CountDownLatch(1);
        CompletableFuture<Void> first = CompletableFuture.runAsync(() -> p.start(() -> {
            launches.incrementAndGet();
            inLaunch.countDown();
            try {
                release.await(5, TimeUnit.SECONDS);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
            return new CompletableFuture<>();
        }));
        assertTrue(inLaunch.await(5, TimeUnit.SECONDS));
        CompletableFuture<Status.Code> second = CompletableFuture.supplyAsync(() -> refused(() -> p.start(() -> {
            launches.incrementAndGet();
            return new CompletableFuture<>();
        })));
        Thread.sleep(100);
        assertTrue(!second.isDone(), "the second start waits for the first to finish its transition");
        release.countDown();
        first.get(5, TimeUnit.SECONDS);
        assertEquals(Status.Code.FAILED_PRECONDITION, second.get(5, TimeUnit.SECONDS));
        assertEquals(1, launches.get());
        assertInstanceOf(ProcessState.Running.class, p.state());
    }

    @Test
    void aFailedActionLeavesTheStateAsItWas() {
        TaskProcess p = new TaskProcess("c", "", NONE, 1);
        p.start(CompletableFuture::new);
        assertThrows(IllegalStateException.class, () -> p.pause(() -> {
            throw new IllegalStateException("agent said no");
        }));
        assertInstanceOf(ProcessState.Running.class, p.state());
        p.pause(() -> { });
        assertInstanceOf(ProcessState.Paused.class, p.state());
        assertEquals(Status.Code.FAILED_PRECONDITION, refused(() -> p.pause(() -> { })));
        p.resume(() -> { });
        assertInstanceOf(ProcessState.Running.class, p.state());
    }

    @Test
    void killStopsANeverStartedInitWithoutTheGuestAndIgnoresStoppedOnes() {
        TaskProcess init = new TaskProcess("c", "", NONE, 1);
        AtomicInteger delivered = new AtomicInteger();
        ProcessState.Stopped s = init.kill(9, false, delivered::incrementAndGet);
        assertEquals(137, s.exitStatus());
        assertEquals(0, delivered.get());
        assertNull(init.kill(9, false, delivered::incrementAndGet), "a stopped process is not signalled again");
        assertEquals(0, delivered.get());

        TaskProcess exec = new TaskProcess("c", "e", NONE, 1);
        assertNull(exec.kill(15, false, delivered::incrementAndGet));
        assertEquals(1, delivered.get(), "a created exec is signalled in the guest");
        exec.delete(() -> { });
        assertEquals(Status.Code.FAILED_PRECONDITION, refused(() -> exec.kill(9, false, delivered::incrementAndGet)));
    }

    @Test
    void onlyStoppedOrCreatedProcessesAreDeleted() throws Exception {
        TaskProcess p = new TaskProcess("c", "", NONE, 1);
        p.start(CompletableFuture::new);
        AtomicInteger removed = new AtomicInteger();
        assertEquals(Status.Code.FAILED_PRECONDITION, refused(() -> p.delete(removed::incrementAndGet)));
        assertEquals(0, removed.get());
        p.stopped(3, Instant.ofEpochSecond(5));
        ProcessState.Deleted d = p.delete(removed::incrementAndGet);
        assertEquals(1, removed.get());
        assertEquals(3, d.exitStatus());
        assertEquals(Instant.ofEpochSecond(5), d.exitedAt());

        TaskProcess created = new TaskProcess("c", "e", NONE, 1);
        created.delete(() -> { });
        assertEquals(0, created.exited().get(1, TimeUnit.SECONDS).exitStatus(), "waiters of a never started one are released");
    }

    @Test
    void execNeedsARunningOrPausedInit() {
        TaskProcess init = new TaskProcess("c", "", NONE, 1);
        AtomicInteger added = new AtomicInteger();
        assertEquals(Status.Code.FAILED_PRECONDITION, refused(() -> init.exec(added::incrementAndGet)));
        init.start(CompletableFuture::new);
        init.exec(added::incrementAndGet);
        init.pause(() -> { });
        init.exec(added::incrementAndGet);
        assertEquals(2, added.get());
    }
}
