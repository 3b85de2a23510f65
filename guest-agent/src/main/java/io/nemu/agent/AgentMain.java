package io.nemu.agent;

import io.grpc.BindableService;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.ServiceLoader;
import java.util.concurrent.CountDownLatch;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Entry point in the guest: {@code java -jar agent.jar --listen vsock:PORT --listen serial:/dev/...}, PORT being
 * {@link io.nemu.contract.GuestContract#AGENT_VSOCK_PORT}.
 * Options: {@code --listen NAME:ADDRESS} (required, repeatable; each listener is chosen by name among
 * those on the class path), {@code --state-dir DIR}, {@code --shared-dir DIR}, {@code --crun PATH}.
 * A listener that cannot start is reported and skipped; the agent exits with 1 when none started.
 * {@code --warm-up} (with {@code --state-dir}) runs a few calls in-process and exits: the image builder's
 * AppCDS training run. {@code --probe-vsock CID:PORT} asks an agent's Health over vsock and exits (0: SERVING).
 */
public final class AgentMain {

    static {
        // Before the first logger exists: slf4j-simple reads its level once (agent.log=debug, Kata's switch).
        KernelCmdline.current().value(io.nemu.contract.DebugConsole.LOG_PARAM)
                .ifPresent(level -> System.setProperty("org.slf4j.simpleLogger.defaultLogLevel", level));
    }

    private static final Logger LOG = LoggerFactory.getLogger(AgentMain.class);

    private AgentMain() {}

    public static void main(String[] args) throws Exception {
        List<String> listens = new ArrayList<>();
        AgentConfig g = AgentConfig.guest();
        Path state = g.stateDir();
        Path shared = g.sharedDir();
        String crun = g.crun();
        boolean warmUp = false;
        for (int i = 0; i < args.length; i++) {
            String a = args[i];
            String v = i + 1 < args.length ? args[i + 1] : null;
            switch (a) {
                case "--listen" -> listens.add(need(a, v));
                case "--state-dir" -> state = Path.of(need(a, v));
                case "--shared-dir" -> shared = Path.of(need(a, v));
                case "--crun" -> crun = need(a, v);
                case "--probe-vsock" -> System.exit(io.nemu.agent.transport.VsockProbe.run(need(a, v)));
                case "--warm-up" -> {
                    warmUp = true;
                    i--; // takes no value
                }
                default -> usage("unknown argument '" + a + "'");
            }
            i++;
        }
        if (warmUp) {
            AgentConfig wc = new AgentConfig(state, shared, crun, g.cgroupRoot(), g.cgroupParent(), g.ipCommand(),
                    g.resolvConf(), g.sysfs(), g.copyFileBase(), false);
            io.nemu.agent.transport.WarmUp.run(List.of(new AgentService(wc), new HealthService()));
            LOG.info("warm-up done");
            System.exit(0);
        }
        if (listens.isEmpty()) {
            usage("--listen NAME:ADDRESS is required");
        }
        List<String> known = new ArrayList<>();
        List<Listener> available = new ArrayList<>();
        for (Listener l : ServiceLoader.load(Listener.class)) {
            known.add(l.name());
            available.add(l);
        }
        List<Listener> chosen = new ArrayList<>();
        for (String listen : listens) {
            int colon = listen.indexOf(':');
            String name = colon < 0 ? listen : listen.substring(0, colon);
            Listener l = available.stream().filter(x -> x.name().equals(name)).findFirst().orElse(null);
            if (colon < 0 || l == null) {
                usage(colon < 0 ? "--listen needs NAME:ADDRESS, not '" + listen + "'"
                        : "no listener named '" + name + "' (available: "
                        + (known.isEmpty() ? "none" : String.join(", ", known)) + ")");
            }
            chosen.add(l);
        }
        AgentConfig cfg = new AgentConfig(state, shared, crun, g.cgroupRoot(), g.cgroupParent(), g.ipCommand(),
                g.resolvConf(), g.sysfs(), g.copyFileBase(), g.setHostname());
        List<BindableService> services = List.of(new AgentService(cfg), new HealthService());
        List<AutoCloseable> servers = new ArrayList<>();
        for (int i = 0; i < listens.size(); i++) {
            String listen = listens.get(i);
            try {
                servers.add(chosen.get(i).start(listen.substring(listen.indexOf(':') + 1), services));
                LOG.info("agent {} serving on {}", AgentConfig.VERSION, listen);
            } catch (Exception e) {
                LOG.error("cannot listen on {}: {}", listen, e.getMessage());
            }
        }
        if (servers.isEmpty()) {
            System.err.println("nemu-agent: no listener started");
            System.exit(1);
        }
        LOG.info("agent ready: {}", startupFacts());
        LOG.debug("debug logs on ({}=debug)", io.nemu.contract.DebugConsole.LOG_PARAM);
        debugConsole(KernelCmdline.current()).ifPresent(servers::add);
        CountDownLatch stop = new CountDownLatch(1);
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            for (AutoCloseable server : servers) {
                try {
                    server.close();
                } catch (Exception e) {
                    LOG.warn("stopping listener: {}", String.valueOf(e));
                }
            }
            stop.countDown();
        }));
        stop.await();
    }

    /** The debug console when the kernel command line names its port (the host's debug_console_enabled). */
    private static java.util.Optional<AutoCloseable> debugConsole(KernelCmdline cmdline) {
        String port = cmdline.value(io.nemu.contract.DebugConsole.PORT_PARAM).orElse(null);
        if (port == null) {
            return java.util.Optional.empty();
        }
        try {
            return java.util.Optional.of(io.nemu.agent.transport.DebugConsoleServer.start(Integer.parseInt(port)));
        } catch (IOException | NumberFormatException e) {
            LOG.error("no debug console on {}={}: {}", io.nemu.contract.DebugConsole.PORT_PARAM, port, e.getMessage());
            return java.util.Optional.empty();
        }
    }

    /** Boot and JVM times and whether the AppCDS archive is in use: the start-up figures in one line. */
    private static String startupFacts() {
        StringBuilder sb = new StringBuilder();
        try {
            String up = Files.readString(Path.of("/proc/uptime")).split(" ")[0];
            sb.append("system up ").append(up).append(" s");
        } catch (IOException | RuntimeException e) {
            sb.append("system uptime unknown");
        }
        ProcessHandle.current().info().startInstant().ifPresent(t -> sb.append(", JVM up ")
                .append(java.time.Duration.between(t, java.time.Instant.now()).toMillis()).append(" ms"));
        try {
            String maps = Files.readString(Path.of("/proc/self/maps"));
            sb.append(maps.contains("agent.jsa") ? ", AppCDS archive mapped"
                    : maps.contains(".jsa") ? ", only the runtime's CDS archive" : ", no CDS archive");
        } catch (IOException | RuntimeException e) {
            // not Linux: leave it out
        }
        return sb.toString();
    }

    private static String need(String option, String value) {
        if (value == null) {
            usage(option + " needs a value");
        }
        return value;
    }

    private static void usage(String problem) {
        System.err.println("nemu-agent: " + problem);
        System.err.println("usage: AgentMain --listen NAME:ADDRESS... [--state-dir DIR] [--shared-dir DIR] [--crun PATH]");
        System.exit(2);
    }
}
