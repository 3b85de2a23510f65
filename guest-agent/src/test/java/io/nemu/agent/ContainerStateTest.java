package io.nemu.agent;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import io.grpc.Status;
import io.nemu.agent.ContainerState.Created;
import io.nemu.agent.ContainerState.Paused;
import io.nemu.agent.ContainerState.Removed;
import io.nemu.agent.ContainerState.Running;
import io.nemu.agent.ContainerState.Stopped;
import io.nemu.proto.kata.LinuxResources;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The container lifecycle without crun: "crun" is {@code true}, so every crun command succeeds, and the
 * init is a process that never started until the test completes its exit.
 */
class ContainerStateTest {

    @TempDir
    Path dir;

    private final List<AgentProcess> processes = new ArrayList<>();

    @AfterEach
    void release() {
        processes.forEach(AgentProcess::release);
    }

    private Container container() throws Exception {
        AgentProcess.PipeEnds pipes = AgentProcess.PipeEnds.create();
        AgentProcess init = AgentProcess.withPipes("c1", "", pipes);
        pipes.closeChildEnds();
        processes.add(init);
        Path bundle = dir.resolve("bundle");
        Files.createDirectories(bundle);
        return new Container("c1", "", bundle, "/nemu/c1", new ArrayList<>(), init,
                new Crun("true", dir.resolve("crun"), dir.resolve("sock")));
    }

    private static void refused(Status.Code code, String message, Runnable action) {
        AgentException e = assertThrows(AgentException.class, action::run);
        assertEquals(code, e.code());
        assertEquals(message, e.getMessage());
    }

    @Test
    void legalTransitions() throws Exception {
        Container c = container();
        assertEquals(new Created(), c.state());
        c.start();
        assertEquals(new Running(), c.state());
        c.pause();
        assertEquals(new Paused(), c.state());
        c.resume();
        assertEquals(new Running(), c.state());
        c.update(LinuxResources.getDefaultInstance());
        c.kill(true, 9);
        assertEquals(new Running(), c.state());
        c.init.exit().complete(137);
        assertEquals(new Stopped(), c.state());
        c.remove(1);
        assertEquals(new Removed(), c.state());
        assertFalse(Files.exists(c.bundle), "bundle left after removal");
    }

    @Test
    void illegalTransitionsAreRefusedWithTheAgentsErrors() throws Exception {
        Container c = container();
        String precondition = "container 'c1' is ";
        refused(Status.Code.FAILED_PRECONDITION, precondition + "CREATED, not RUNNING", c::pause);
        refused(Status.Code.FAILED_PRECONDITION, precondition + "CREATED, not PAUSED", c::resume);
        refused(Status.Code.FAILED_PRECONDITION, "container 'c1' is not running",
                () -> c.exec("e1", JsonNodeFactory.instance.objectNode(), false));
        c.start();
        refused(Status.Code.FAILED_PRECONDITION, precondition + "RUNNING, not CREATED", c::start);
        refused(Status.Code.FAILED_PRECONDITION, precondition + "RUNNING, not PAUSED", c::resume);
        refused(Status.Code.ALREADY_EXISTS, "exec id 'c1' already exists in container 'c1'",
                () -> c.exec("c1", JsonNodeFactory.instance.objectNode(), false));
        c.pause();
        refused(Status.Code.FAILED_PRECONDITION, precondition + "PAUSED, not RUNNING", c::pause);
        refused(Status.Code.FAILED_PRECONDITION, precondition + "PAUSED, not CREATED", c::start);
        c.init.exit().complete(0);
        refused(Status.Code.FAILED_PRECONDITION, precondition + "STOPPED, not PAUSED", c::resume);
        refused(Status.Code.FAILED_PRECONDITION, precondition + "STOPPED, not CREATED", c::start);
        refused(Status.Code.FAILED_PRECONDITION, "container 'c1' is not running",
                () -> c.exec("e2", JsonNodeFactory.instance.objectNode(), false));
        c.remove(1);
        String gone = "container 'c1' not found";
        refused(Status.Code.NOT_FOUND, gone, c::start);
        refused(Status.Code.NOT_FOUND, gone, c::pause);
        refused(Status.Code.NOT_FOUND, gone, c::resume);
        refused(Status.Code.NOT_FOUND, gone, () -> c.kill(false, 15));
        refused(Status.Code.NOT_FOUND, gone, () -> c.update(LinuxResources.getDefaultInstance()));
        refused(Status.Code.NOT_FOUND, gone, () -> c.exec("e3", JsonNodeFactory.instance.objectNode(), false));
        refused(Status.Code.NOT_FOUND, gone, () -> c.remove(1));
    }

    @Test
    void aFailedRemovalKeepsTheState() throws Exception {
        Container c = container();
        c.start();
        // the init never exits: the removal times out and the container stays as it was
        refused(Status.Code.DEADLINE_EXCEEDED, "container 'c1': process 0 still alive after 1 s", () -> c.remove(1));
        assertEquals(new Running(), c.state());
        c.init.exit().complete(0);
        c.remove(1);
        assertTrue(c.state() instanceof Removed);
    }

    @Test
    void theInitsExitEndsEveryLiveState() {
        for (ContainerState s : List.of(new Created(), new Running(), new Paused(), new Stopped())) {
            assertEquals(new Stopped(), s.initExited(), s.name());
        }
        assertEquals(new Removed(), new Removed().initExited());
    }
}
