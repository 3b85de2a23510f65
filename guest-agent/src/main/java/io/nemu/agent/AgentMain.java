package io.nemu.agent;

import io.grpc.BindableService;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.ServiceLoader;
import java.util.concurrent.CountDownLatch;

/**
 * Entry point in the guest: {@code java -cp ... io.nemu.agent.AgentMain --listen vsock:1024}.
 * Options: {@code --listen NAME:ADDRESS} (required; the listener is chosen by name among those on
 * the class path), {@code --state-dir DIR}, {@code --shared-dir DIR}, {@code --crun PATH}.
 */
public final class AgentMain {
    private AgentMain() {}

    public static void main(String[] args) throws Exception {
        String listen = null;
        AgentConfig g = AgentConfig.guest();
        Path state = g.stateDir();
        Path shared = g.sharedDir();
        String crun = g.crun();
        for (int i = 0; i < args.length; i++) {
            String a = args[i];
            String v = i + 1 < args.length ? args[i + 1] : null;
            switch (a) {
                case "--listen" -> listen = need(a, v);
                case "--state-dir" -> state = Path.of(need(a, v));
                case "--shared-dir" -> shared = Path.of(need(a, v));
                case "--crun" -> crun = need(a, v);
                default -> usage("unknown argument '" + a + "'");
            }
            i++;
        }
        if (listen == null || !listen.contains(":")) {
            usage("--listen NAME:ADDRESS is required");
        }
        String name = listen.substring(0, listen.indexOf(':'));
        String address = listen.substring(listen.indexOf(':') + 1);
        List<String> known = new ArrayList<>();
        Listener chosen = null;
        for (Listener l : ServiceLoader.load(Listener.class)) {
            known.add(l.name());
            if (l.name().equals(name)) {
                chosen = l;
            }
        }
        if (chosen == null) {
            usage("no listener named '" + name + "' (available: " + (known.isEmpty() ? "none" : String.join(", ", known)) + ")");
        }
        AgentConfig cfg = new AgentConfig(state, shared, crun, g.cgroupRoot(), g.cgroupParent(), g.ipCommand(),
                g.resolvConf(), g.sysfs(), g.copyFileBase(), g.setHostname());
        List<BindableService> services = List.of(new AgentService(cfg), new HealthService());
        AutoCloseable server = chosen.start(address, services);
        Log.info("agent %s serving on %s", AgentConfig.VERSION, listen);
        CountDownLatch stop = new CountDownLatch(1);
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            try {
                server.close();
            } catch (Exception e) {
                Log.warn("stopping listener: %s", e);
            }
            stop.countDown();
        }));
        stop.await();
    }

    private static String need(String option, String value) {
        if (value == null) {
            usage(option + " needs a value");
        }
        return value;
    }

    private static void usage(String problem) {
        System.err.println("nemu-agent: " + problem);
        System.err.println("usage: AgentMain --listen NAME:ADDRESS [--state-dir DIR] [--shared-dir DIR] [--crun PATH]");
        System.exit(2);
    }
}
