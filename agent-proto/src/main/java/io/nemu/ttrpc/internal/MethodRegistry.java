package io.nemu.ttrpc.internal;

import io.grpc.ServerMethodDefinition;
import io.grpc.ServerServiceDefinition;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/** Immutable lookup of gRPC method definitions by ttrpc service and method name. */
public final class MethodRegistry {
    private final Map<String, ServerMethodDefinition<?, ?>> methods = new HashMap<>();
    private final Set<String> services;

    public MethodRegistry(List<ServerServiceDefinition> definitions) {
        Map<String, ServerServiceDefinition> byName = new HashMap<>();
        for (ServerServiceDefinition def : definitions) {
            String name = def.getServiceDescriptor().getName();
            if (byName.putIfAbsent(name, def) != null) {
                throw new IllegalArgumentException("service " + name + " is registered twice");
            }
            for (ServerMethodDefinition<?, ?> m : def.getMethods()) {
                methods.put(m.getMethodDescriptor().getFullMethodName(), m);
            }
        }
        services = Set.copyOf(byName.keySet());
    }

    public boolean hasService(String service) {
        return services.contains(service);
    }

    /** gRPC's full method name is "service/method"; ttrpc sends the two halves apart. */
    public ServerMethodDefinition<?, ?> lookup(String service, String method) {
        return methods.get(service + "/" + method);
    }
}
