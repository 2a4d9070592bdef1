/*
 * Validates rendered Kubernetes manifests (the output of `kubectl kustomize`) in
 * three layers, and fails on the first set with any error:
 *
 *   schema   every object against the Kubernetes OpenAPI schemas, with the
 *            validators kubernetes-models generates from them (types, required
 *            fields, enums, formats);
 *   strict   no unknown fields, anywhere: every key of every object must be a
 *            field of its OpenAPI type, as @kubernetes/client-node's models
 *            (generated from the same OpenAPI document) list them. This is what
 *            the API server's strict field validation would reject;
 *   policy   what this project's deployment promises: native gRPC probes on
 *            the served port, the security context, a termination grace period
 *            longer than the server's, settings the server knows
 *            (server/config.c), the Dockerfile's user, Services and the
 *            PodDisruptionBudget selecting the pod, and so on; on SQLite (a
 *            StatefulSet) one replica with writable mounts only for the
 *            database volume and /tmp; on PostgreSQL (a Deployment) at least 3
 *            replicas, rollouts with maxUnavailable 0, one replica per node, a
 *            budget of minAvailable 2 or more, the URI from a Secret, TLS with
 *            sslmode verify-full and only the CA's certificate mounted,
 *            migrations in an init container of the same image, only /tmp
 *            writable, and a CloudNativePG Cluster of 3 or more instances.
 *
 * Custom resources (the CloudNativePG Cluster) have no schema here: the schema
 * layer skips them, the strict layer checks only their metadata and top level,
 * and the output names each one as not validated against a schema.
 *
 * Before that it proves each layer rejects what it should (known-bad objects and
 * deliberately broken copies of the first SQLite set and of the PostgreSQL set),
 * so a validator that silently accepts everything cannot pass.
 *
 * Both npm packages, at the versions package-lock.json pins, are generated from
 * the Kubernetes 1.33 OpenAPI document; everything the manifests use is GA or
 * on by default since 1.27.
 *
 * Usage (deploy/check/manifests.sh runs it from the npm install directory):
 *   node validate-manifests.mjs --dockerfile deploy/Dockerfile \
 *       --config-c server/config.c NAME=RENDERED.yaml...
 */
import fs from 'node:fs';
import process from 'node:process';

import * as k8s from '@kubernetes/client-node';
import YAML from 'yaml';

/* ---- inputs ------------------------------------------------------------------- */

function parseArgs(argv) {
	const args = { sets: [] };
	for (let i = 0; i < argv.length; i++) {
		const a = argv[i];
		if (a === '--dockerfile' || a === '--config-c') {
			args[a.slice(2)] = argv[++i];
		} else if (/^[\w-]+=/.test(a)) {
			const eq = a.indexOf('=');
			args.sets.push({ name: a.slice(0, eq), file: a.slice(eq + 1) });
		} else {
			throw new Error(`unexpected argument ${a}`);
		}
	}
	if (!args.dockerfile || !args['config-c'] || args.sets.length === 0)
		throw new Error('usage: validate-manifests.mjs --dockerfile F --config-c F NAME=FILE...');
	return args;
}

/* Every document of a multi-document YAML file; duplicate keys are errors. */
function loadDocuments(file) {
	const docs = YAML.parseAllDocuments(fs.readFileSync(file, 'utf8'), { uniqueKeys: true });
	const objs = [];
	for (const d of docs) {
		if (d.errors.length > 0)
			throw new Error(`${file}: ${d.errors.map((e) => e.message).join('; ')}`);
		const o = d.toJS();
		if (o !== null && o !== undefined)
			objs.push(o);
	}
	return objs;
}

/* The USER of the Dockerfile's last stage, as numbers. */
function dockerfileUser(file) {
	const users = fs.readFileSync(file, 'utf8').split('\n')
		.map((l) => /^USER\s+(\d+):(\d+)\s*$/.exec(l)).filter(Boolean);
	if (users.length === 0)
		throw new Error(`${file}: no numeric "USER uid:gid" line`);
	const m = users[users.length - 1];
	return { uid: Number(m[1]), gid: Number(m[2]) };
}

/* The ANIWORLD_* variables the server reads: its settings table (server/config.c). */
function knownSettings(file) {
	const names = new Set(fs.readFileSync(file, 'utf8').match(/"ANIWORLD_[A-Z0-9_]+"/g)
		.map((s) => s.slice(1, -1)));
	if (names.size === 0)
		throw new Error(`${file}: no ANIWORLD_* settings found`);
	return names;
}

/* A duration as server/config.c reads it: a number with ms, s, m or h (default ms). */
function durationMs(s) {
	const m = /^(\d+)(ms|s|m|h)?$/.exec(s);
	if (!m)
		return NaN;
	return Number(m[1]) * { ms: 1, s: 1000, m: 60000, h: 3600000 }[m[2] || 'ms'];
}

/* ---- layer 1: schema ------------------------------------------------------------ */

function describe(o) {
	const ns = o?.metadata?.namespace ? `${o.metadata.namespace}/` : '';
	return `${o?.kind ?? '?'} ${ns}${o?.metadata?.name ?? '?'}`;
}

async function schemaErrors(o) {
	if (typeof o.apiVersion !== 'string' || typeof o.kind !== 'string')
		return ['apiVersion and kind are required'];
	const [group, version] = o.apiVersion.includes('/') ? o.apiVersion.split('/') : ['', o.apiVersion];
	let mod;
	try {
		mod = await import(`kubernetes-models/${group ? `${group}/` : ''}${version}`);
	} catch {
		return [`no schema for apiVersion ${o.apiVersion}`];
	}
	const Model = mod[o.kind];
	if (typeof Model !== 'function')
		return [`no schema for kind ${o.kind} in ${o.apiVersion}`];
	try {
		new Model(o).validate();
		return [];
	} catch (e) {
		const list = e.errors ?? e.details; // ajv's error objects
		if (!Array.isArray(list))
			throw e;
		return list.map((d) => {
			const allowed = d.params?.allowedValues ? ` (${d.params.allowedValues.join(', ')})` : '';
			return `${d.instancePath || '/'}: ${d.message}${allowed}`;
		});
	}
}

/* ---- layer 2: strict (unknown fields) ------------------------------------------- */

function isObject(v) {
	return v !== null && typeof v === 'object' && !Array.isArray(v);
}

/* The client-node model class of a top-level kind, e.g. apps/v1 StatefulSet ->
 * V1StatefulSet (a group prefix first, for kinds that exist in several groups). */
function modelOf(o) {
	const parts = o.apiVersion.split('/');
	const version = parts[parts.length - 1];
	const ver = version[0].toUpperCase() + version.slice(1);
	const candidates = [];
	if (parts.length === 2) {
		const g = parts[0].split('.')[0];
		candidates.push(`${g[0].toUpperCase()}${g.slice(1)}${ver}${o.kind}`);
	}
	candidates.push(`${ver}${o.kind}`);
	return candidates.find((c) => typeof k8s[c]?.getAttributeTypeMap === 'function');
}

/* Walks `value` as OpenAPI type `type` (client-node's notation) and reports every
 * key that is not a field of its type. Wrong value types are the schema's job. */
function unknownFields(value, type, path, errs) {
	if (value === null || value === undefined)
		return;
	let m = /^Array<(.+)>$/.exec(type);
	if (m) {
		if (Array.isArray(value))
			value.forEach((v, i) => unknownFields(v, m[1], `${path}[${i}]`, errs));
		return;
	}
	m = /^\{ \[key: string\]: (.+); \}$/.exec(type);
	if (m) {
		if (isObject(value))
			for (const [k, v] of Object.entries(value))
				unknownFields(v, m[1], `${path}[${JSON.stringify(k)}]`, errs);
		return;
	}
	const cls = k8s[type];
	if (typeof cls?.getAttributeTypeMap !== 'function' || !isObject(value))
		return;
	const fields = new Map(cls.getAttributeTypeMap().map((a) => [a.baseName, a.type]));
	for (const [k, v] of Object.entries(value)) {
		if (!fields.has(k))
			errs.push(`${path}.${k}: unknown field (${type} has no such field)`);
		else
			unknownFields(v, fields.get(k), `${path}.${k}`, errs);
	}
}

function strictErrors(o) {
	const model = modelOf(o);
	if (!model)
		return [`no OpenAPI model for ${o.apiVersion} ${o.kind}`];
	const errs = [];
	unknownFields(o, model, '', errs);
	return errs.map((e) => e.replace(/^\./, ''));
}

/* ---- layer 3: policy ------------------------------------------------------------ */

function labelsMatch(selector, labels) {
	const entries = Object.entries(selector ?? {});
	return entries.length > 0 && entries.every(([k, v]) => labels?.[k] === v);
}

/* libpq's own environment variables the manifests may set beside ANIWORLD_*
 * (libpq reads them itself; the server has no setting for them). */
const LIBPQ_ENV = new Set(['PGSSLMODE', 'PGSSLROOTCERT', 'PGSSLCERT', 'PGSSLKEY', 'PGSSLCRL',
	'PGPASSFILE', 'PGCONNECT_TIMEOUT', 'PGAPPNAME', 'PGTARGETSESSIONATTRS']);

/* The one workload of a set: the SQLite StatefulSet or the PostgreSQL Deployment. */
function workloadOf(objs) {
	const w = objs.filter((o) => o.kind === 'StatefulSet' || o.kind === 'Deployment');
	return w.length === 1 ? w[0] : null;
}

/* The settings a container sees: the ConfigMap(s) in envFrom, then literal env
 * values; `fromSecret` maps the names set from a Secret to {name, key}. */
function containerSettings(c, objs, cw, err, ctx) {
	const settings = {};
	const fromSecret = {};
	for (const ef of c.envFrom ?? []) {
		if (!ef.configMapRef) {
			err(`${cw}: envFrom other than a ConfigMap`);
			continue;
		}
		const cm = objs.find((o) => o.kind === 'ConfigMap' && o.metadata?.name === ef.configMapRef.name);
		if (!cm) {
			err(`${cw}: envFrom names ConfigMap ${ef.configMapRef.name}, which is not in the set`);
			continue;
		}
		Object.assign(settings, cm.data ?? {});
	}
	for (const e of c.env ?? []) {
		if (typeof e.value === 'string')
			settings[e.name] = e.value;
		else if (e.valueFrom?.secretKeyRef)
			fromSecret[e.name] = e.valueFrom.secretKeyRef;
		else
			err(`${cw}: env ${e.name} is neither a value nor from a Secret`);
	}
	for (const k of [...Object.keys(settings), ...Object.keys(fromSecret)])
		if (!ctx.settings.has(k) && !LIBPQ_ENV.has(k))
			err(`${cw}: setting ${k} is not one the server (server/config.c) or libpq reads`);
	return { settings, fromSecret };
}

/* The security rules every container of the pod meets (pod level, overridden
 * by the container's). */
function securityErrors(c, pod, cw, err, ctx) {
	const sc = (k) => c.securityContext?.[k] ?? pod.securityContext?.[k];
	if (sc('runAsNonRoot') !== true)
		err(`${cw}: runAsNonRoot must be true`);
	if (sc('runAsUser') !== ctx.uid || sc('runAsGroup') !== ctx.gid)
		err(`${cw}: must run as ${ctx.uid}:${ctx.gid}, the Dockerfile's USER`);
	if (c.securityContext?.readOnlyRootFilesystem !== true)
		err(`${cw}: readOnlyRootFilesystem must be true`);
	if (c.securityContext?.allowPrivilegeEscalation !== false)
		err(`${cw}: allowPrivilegeEscalation must be false`);
	if (c.securityContext?.privileged === true)
		err(`${cw}: must not be privileged`);
	if (!(c.securityContext?.capabilities?.drop ?? []).includes('ALL'))
		err(`${cw}: capabilities.drop must include ALL`);
	if ((c.securityContext?.capabilities?.add ?? []).length > 0)
		err(`${cw}: adds capabilities`);
	if (sc('seccompProfile')?.type !== 'RuntimeDefault')
		err(`${cw}: seccompProfile must be RuntimeDefault`);
	for (const r of ['requests', 'limits'])
		for (const k of ['cpu', 'memory'])
			if (!c.resources?.[r]?.[k])
				err(`${cw}: resources.${r}.${k} is not set`);
}

/* The PostgreSQL connection of a container (the Deployment's server and its
 * migrations): the URI from a Secret, verified TLS with the CA in a read-only
 * mount. The migrations (`owner`) connect as the database's owner: with a
 * CloudNativePG Cluster in the set, the URI in its app Secret. The server may
 * use another Secret, of a role with fewer privileges (README.md). */
function postgresErrors(c, env, volumes, cluster, cw, err, owner) {
	if (env.settings.ANIWORLD_DB !== undefined)
		err(`${cw}: ANIWORLD_DB is a plain value (a ConfigMap or env value); the URI holds a password and comes from a Secret`);
	const uri = env.fromSecret.ANIWORLD_DB;
	if (!uri)
		err(`${cw}: ANIWORLD_DB must come from a Secret (env valueFrom.secretKeyRef)`);
	else if (owner && cluster && (uri.name !== `${cluster.metadata?.name}-app` || uri.key !== 'uri'))
		err(`${cw}: ANIWORLD_DB comes from ${uri.name}/${uri.key}; the Cluster ${cluster.metadata?.name} keeps its URI in ${cluster.metadata?.name}-app/uri`);
	else if (uri.optional === true)
		err(`${cw}: the Secret of ANIWORLD_DB is optional`);
	if (env.settings.PGSSLMODE !== 'verify-full')
		err(`${cw}: PGSSLMODE must be verify-full (TLS to the database, certificate and host checked), is ${env.settings.PGSSLMODE ?? 'unset'}`);
	const ca = env.settings.PGSSLROOTCERT ?? '';
	const m = (c.volumeMounts ?? []).find((mm) => ca.startsWith(`${mm.mountPath}/`));
	const v = m && volumes.get(m.name);
	if (!v?.secret && !v?.configMap) {
		err(`${cw}: PGSSLROOTCERT=${ca || '(unset)'} is not in a mounted Secret or ConfigMap`);
	} else {
		if (m.readOnly !== true)
			err(`${cw}: the CA mount ${m.mountPath} must be read-only`);
		if (v.secret && cluster && v.secret.secretName !== `${cluster.metadata?.name}-ca`)
			err(`${cw}: the CA comes from Secret ${v.secret.secretName}, not the Cluster's ${cluster.metadata?.name}-ca`);
		// The operator's CA Secret holds the CA's private key too (ca.key).
		const items = (v.secret ?? v.configMap).items;
		if (v.secret && (!items || items.some((i) => i.key !== 'ca.crt')))
			err(`${cw}: the CA volume ${m.name} must project only ca.crt (the Secret also holds the CA's key)`);
	}
}

/* Rules an operator relies on, for one rendered set. Returns error strings. */
function policyErrors(objs, ctx) {
	const errs = [];
	const err = (s) => errs.push(s);
	const ofKind = (k) => objs.filter((o) => o.kind === k);

	const w = workloadOf(objs);
	if (!w) {
		err('expected exactly one workload (a StatefulSet on SQLite or a Deployment on PostgreSQL)');
		return errs;
	}
	const onSqlite = w.kind === 'StatefulSet';
	const spec = w.spec ?? {};
	const tpl = spec.template ?? {};
	const pod = tpl.spec ?? {};
	const podLabels = tpl.metadata?.labels ?? {};
	const where = `${w.kind} ${w.metadata?.name}`;
	const clusters = ofKind('Cluster').filter((o) => o.apiVersion === 'postgresql.cnpg.io/v1');
	const cluster = clusters[0];

	if (!labelsMatch(spec.selector?.matchLabels, podLabels))
		err(`${where}: selector does not match the pod template's labels`);
	const replicas = spec.replicas ?? 1;
	if (onSqlite) {
		// One writer: SQLite.
		if (spec.replicas !== 1)
			err(`${where}: replicas must be 1 (SQLite has one writer), is ${spec.replicas}`);
		for (const t of spec.volumeClaimTemplates ?? [])
			for (const mode of t.spec?.accessModes ?? [])
				if (mode !== 'ReadWriteOnce' && mode !== 'ReadWriteOncePod')
					err(`${where}: volume claim ${t.metadata?.name} has access mode ${mode}; SQLite needs one node`);
		if (clusters.length > 0)
			err(`${where}: a SQLite StatefulSet beside a PostgreSQL Cluster`);
	} else {
		// Several replicas on one database, rolled without losing capacity,
		// spread so that one node takes one replica with it at most.
		if (replicas < 3)
			err(`${where}: replicas must be at least 3, is ${replicas}`);
		const ru = spec.strategy?.rollingUpdate;
		if ((spec.strategy?.type ?? 'RollingUpdate') !== 'RollingUpdate' || ru?.maxUnavailable !== 0)
			err(`${where}: a rollout must never take a ready pod away first (RollingUpdate, maxUnavailable: 0)`);
		if (!ru || ru.maxSurge === 0 || ru.maxSurge === '0%')
			err(`${where}: maxSurge must be at least 1 (with maxUnavailable 0 a rollout needs room for a new pod)`);
		const spread = (pod.topologySpreadConstraints ?? []).some((t) => t.topologyKey === 'kubernetes.io/hostname' &&
			t.whenUnsatisfiable === 'DoNotSchedule' && t.maxSkew === 1 && labelsMatch(t.labelSelector?.matchLabels, podLabels));
		const anti = (pod.affinity?.podAntiAffinity?.requiredDuringSchedulingIgnoredDuringExecution ?? []).some((t) =>
			t.topologyKey === 'kubernetes.io/hostname' && labelsMatch(t.labelSelector?.matchLabels, podLabels));
		if (!spread && !anti)
			err(`${where}: replicas are not kept on different nodes (a hostname topology spread with DoNotSchedule, or a required pod anti-affinity)`);
		for (const v of pod.volumes ?? [])
			if (v.persistentVolumeClaim || v.ephemeral)
				err(`${where}: volume ${v.name} is storage of its own; the data is in PostgreSQL`);
		if (clusters.length !== 1)
			err(`${where}: expected one CloudNativePG Cluster (postgresql.cnpg.io/v1) for the database, found ${clusters.length}`);
		else if (!(cluster.spec?.instances >= 3))
			err(`Cluster ${cluster.metadata?.name}: instances must be at least 3 (a primary and two standbys), is ${cluster.spec?.instances}`);
	}

	const containers = pod.containers ?? [];
	if (containers.length !== 1) {
		err(`${where}: expected one container, found ${containers.length}`);
		return errs;
	}
	const c = containers[0];
	const cw = `${where} container ${c.name}`;
	const volumes = new Map((pod.volumes ?? []).map((v) => [v.name, v]));

	const env = containerSettings(c, objs, cw, err, ctx);
	const settings = env.settings;
	if (!onSqlite)
		postgresErrors(c, env, volumes, cluster, cw, err, false);

	const listen = settings.ANIWORLD_LISTEN ?? '0.0.0.0:50051';
	const lm = /^(.*):(\d+)$/.exec(listen);
	const port = lm ? Number(lm[2]) : NaN;
	if (!lm || (lm[1] !== '0.0.0.0' && lm[1] !== '[::]'))
		err(`${cw}: ANIWORLD_LISTEN=${listen} must be all interfaces (probes and Services come to the pod IP)`);
	const grpcPort = (c.ports ?? []).find((p) => p.name === 'grpc');
	if (!grpcPort || grpcPort.containerPort !== port)
		err(`${cw}: needs a port named grpc with containerPort ${port} (ANIWORLD_LISTEN)`);
	const tls = (settings.ANIWORLD_TLS_CERT ?? '') !== '';

	// Probes: native gRPC health checks, unless TLS makes them impossible.
	// Readiness and start-up ask for the server as a whole (""), which turns
	// NOT_SERVING while the database is away; liveness may ask for the
	// process's own status ("liveness"), which does not.
	for (const kind of ['startupProbe', 'readinessProbe', 'livenessProbe']) {
		const p = c[kind];
		const names = kind === 'livenessProbe' ? ['', 'liveness'] : [''];
		if (!p) {
			err(`${cw}: no ${kind}`);
		} else if (!tls && (!p.grpc || p.grpc.port !== port || !names.includes(p.grpc.service ?? ''))) {
			err(`${cw}: ${kind} must be a native gRPC probe (grpc.health.v1) on port ${port}`);
		} else if (tls && p.grpc) {
			err(`${cw}: ${kind} is a gRPC probe, but kubelet's gRPC probes speak plaintext and the port serves TLS`);
		}
	}
	// On PostgreSQL "" is NOT_SERVING while the database is away, and a
	// restart does not bring it back: liveness asks for "liveness" instead,
	// or else waits out a failover.
	const lp = c.livenessProbe;
	if (!onSqlite && lp && (lp.grpc?.service ?? '') !== 'liveness' &&
	    (lp.periodSeconds ?? 10) * (lp.failureThreshold ?? 3) < 60)
		err(`${cw}: livenessProbe restarts after ${(lp.periodSeconds ?? 10) * (lp.failureThreshold ?? 3)}s of NOT_SERVING; a database failover needs at least 60s`);

	securityErrors(c, pod, cw, err, ctx);
	for (const h of ['hostNetwork', 'hostPID', 'hostIPC'])
		if (pod[h] === true)
			err(`${where}: ${h} is on`);
	if (pod.automountServiceAccountToken !== false)
		err(`${where}: automountServiceAccountToken must be false (the server never calls the API)`);

	// Migrations on PostgreSQL: an init container running the same image with
	// --migrate-only on the same database, under the same rules.
	const inits = pod.initContainers ?? [];
	if (onSqlite && inits.length > 0)
		err(`${where}: init containers on SQLite (the server migrates its own file at start)`);
	if (!onSqlite) {
		const mig = inits.filter((i) => (i.args ?? []).includes('--migrate-only'));
		if (mig.length !== 1 || inits.length !== 1) {
			err(`${where}: expected one init container running --migrate-only, found ${inits.length} init containers, ${mig.length} migrating`);
		} else {
			const i = mig[0];
			const iw = `${where} init container ${i.name}`;
			if (i.image !== c.image)
				err(`${iw}: image ${i.image} is not the server's ${c.image} (migrations must be the served version's)`);
			if (i.command)
				err(`${iw}: overrides the image's entrypoint (the server)`);
			const ienv = containerSettings(i, objs, iw, err, ctx);
			postgresErrors(i, ienv, volumes, cluster, iw, err, true);
			securityErrors(i, pod, iw, err, ctx);
			for (const m of i.volumeMounts ?? [])
				if (m.readOnly !== true && m.mountPath !== '/tmp')
					err(`${iw}: writable mount ${m.mountPath}; only /tmp may be written`);
		}
	}

	// Shutdown: kubelet must wait longer than the server's own grace period.
	const graceMs = durationMs(settings.ANIWORLD_SHUTDOWN_GRACE ?? '10s');
	const tgps = pod.terminationGracePeriodSeconds ?? 30;
	if (!(tgps * 1000 > graceMs))
		err(`${where}: terminationGracePeriodSeconds ${tgps}s must be longer than ANIWORLD_SHUTDOWN_GRACE (${graceMs} ms)`);

	// Mounts: writable only where the server writes; files it reads are mounted.
	const claims = new Set((spec.volumeClaimTemplates ?? []).map((t) => t.metadata?.name));
	const mounts = c.volumeMounts ?? [];
	const writable = [];
	for (const m of mounts) {
		if (!volumes.has(m.name) && !claims.has(m.name))
			err(`${cw}: mount ${m.mountPath} names no volume (${m.name})`);
		if (m.readOnly !== true)
			writable.push(m.mountPath);
	}
	const expectedWritable = ['/tmp'];
	if (onSqlite) {
		const dbDir = (settings.ANIWORLD_DB ?? '').replace(/\/[^/]*$/, '');
		const dbMount = mounts.find((m) => m.mountPath === dbDir);
		if (!dbMount || !claims.has(dbMount.name))
			err(`${cw}: the database directory ${dbDir || '(ANIWORLD_DB unset)'} must be a mount of a volume claim template`);
		expectedWritable.push(dbDir);
	}
	const tmpMount = mounts.find((m) => m.mountPath === '/tmp');
	if (!tmpMount || !volumes.get(tmpMount.name)?.emptyDir)
		err(`${cw}: /tmp must be an emptyDir mount (the root file system is read-only)`);
	const expected = expectedWritable.sort().join(', ');
	if (writable.sort().join(', ') !== expected)
		err(`${cw}: writable mounts are ${writable.join(', ') || 'none'}; expected ${expected}`);
	for (const key of ['ANIWORLD_TLS_CERT', 'ANIWORLD_TLS_KEY', 'ANIWORLD_TLS_CLIENT_CA', 'ANIWORLD_AUTH_TOKENS_FILE',
		'ANIWORLD_ADMIN_TOKENS_FILE']) {
		const file = settings[key] ?? '';
		if (file === '')
			continue;
		const m = mounts.find((mm) => file.startsWith(`${mm.mountPath}/`));
		const v = m && volumes.get(m.name);
		if (!v?.secret)
			err(`${cw}: ${key}=${file} is not in a mounted Secret`);
		else if (v.secret.optional !== false)
			err(`${cw}: ${key} needs Secret ${v.secret.secretName}, but its volume is optional`);
		else if (m.readOnly !== true)
			err(`${cw}: the Secret mount ${m.mountPath} must be read-only`);
	}
	for (const [name, v] of volumes)
		if (v.hostPath)
			err(`${where}: volume ${name} is a hostPath`);

	// Services: select the pod, reach the grpc port, declare the protocol.
	const services = ofKind('Service');
	const headless = services.filter((s) => s.spec?.clusterIP === 'None');
	if (services.length - headless.length < 1)
		err('no ClusterIP Service');
	if (headless.length < 1)
		err('no headless Service (clusterIP: None) for per-call balancing');
	else if (onSqlite && !headless.some((s) => s.metadata?.name === spec.serviceName))
		err(`${where}: serviceName ${spec.serviceName} is not the headless Service`);
	for (const s of services) {
		const sw = `Service ${s.metadata?.name}`;
		if (!labelsMatch(s.spec?.selector, podLabels))
			err(`${sw}: selector does not match the pod's labels`);
		for (const p of s.spec?.ports ?? []) {
			if (p.targetPort !== 'grpc' && p.targetPort !== port)
				err(`${sw}: port ${p.name} targets ${p.targetPort}, not the grpc port`);
			if (!tls && p.appProtocol !== 'kubernetes.io/h2c')
				err(`${sw}: port ${p.name} must declare appProtocol kubernetes.io/h2c (plaintext gRPC)`);
			if (tls && p.appProtocol === 'kubernetes.io/h2c')
				err(`${sw}: port ${p.name} declares h2c, but the server serves TLS`);
		}
	}

	// Disruption budget: on PostgreSQL, drains keep at least two replicas
	// serving and can still go on (the budget leaves one pod to evict).
	const pdbs = ofKind('PodDisruptionBudget').filter((p) => labelsMatch(p.spec?.selector?.matchLabels, podLabels));
	if (pdbs.length !== 1) {
		err(`expected one PodDisruptionBudget selecting the pod, found ${pdbs.length}`);
	} else if (!onSqlite) {
		const min = pdbs[0].spec?.minAvailable;
		if (!Number.isInteger(min) || min < 2 || min > replicas - 1)
			err(`PodDisruptionBudget ${pdbs[0].metadata?.name}: minAvailable must be a number from 2 to replicas - 1 (${replicas - 1}), is ${min}`);
	}

	// Snapshot CronJobs: a client of this server, from its image.
	for (const cj of ofKind('CronJob'))
		cronJobErrors(cj, objs, { c, settings, volumes, mounts, port, services, headless }, err, ctx);

	// A Namespace in the set holds every namespaced object of it.
	const namespaces = ofKind('Namespace');
	if (namespaces.length > 1)
		err('more than one Namespace');
	if (namespaces.length === 1) {
		const ns = namespaces[0].metadata?.name;
		for (const o of objs)
			if (o.kind !== 'Namespace' && o.metadata?.namespace !== ns)
				err(`${describe(o)} is not in namespace ${ns}`);
	}
	return errs;
}

/* The value after option `name` in a container's command line (command, args
 * and any shell script in them, split at white space), quotes stripped, and a
 * shell variable ("$out") replaced by its assignment in the script (out=...). */
function optionValue(words, script, name) {
	const i = words.indexOf(name);
	if (i < 0 || i + 1 >= words.length)
		return undefined;
	let v = words[i + 1].replace(/^["']|["']$/g, '');
	const ref = /^\$\{?(\w+)\}?$/.exec(v);
	if (ref) {
		const m = new RegExp(`(?:^|\\s)${ref[1]}=(\\S+)`).exec(script);
		v = m ? m[1].replace(/^["']|["']$/g, '') : v;
	}
	return v;
}

/* A CronJob that takes snapshots (`aniworld-server snapshot`, README "Backup
 * and restore"): the server's image under the same security rules, one job
 * at a time, a Service of this set as its target, the admin token from the
 * Secret the server reads its admin tokens from (read-only), and the
 * snapshots in a volume claim of the set; nothing else writable but /tmp. */
function cronJobErrors(cj, objs, srv, err, ctx) {
	const where = `CronJob ${cj.metadata?.name}`;
	const pod = cj.spec?.jobTemplate?.spec?.template?.spec ?? {};
	if (cj.spec?.concurrencyPolicy !== 'Forbid')
		err(`${where}: concurrencyPolicy must be Forbid (one snapshot at a time)`);
	if (!['OnFailure', 'Never'].includes(pod.restartPolicy))
		err(`${where}: restartPolicy must be OnFailure or Never`);
	if (pod.automountServiceAccountToken !== false)
		err(`${where}: automountServiceAccountToken must be false (it never calls the API)`);
	for (const h of ['hostNetwork', 'hostPID', 'hostIPC'])
		if (pod[h] === true)
			err(`${where}: ${h} is on`);
	const containers = pod.containers ?? [];
	if (containers.length !== 1) {
		err(`${where}: expected one container, found ${containers.length}`);
		return;
	}
	const c = containers[0];
	const cw = `${where} container ${c.name}`;
	if (c.image !== srv.c.image)
		err(`${cw}: image ${c.image} is not the server's ${srv.c.image} (its client must speak the served version)`);
	securityErrors(c, pod, cw, err, ctx);
	containerSettings(c, objs, cw, err, ctx);

	const line = [...(c.command ?? []), ...(c.args ?? [])];
	const script = line.join(' ');
	const words = script.split(/\s+/);
	if (!/(^|[\s/])aniworld-server snapshot(\s|$)/.test(script) &&
	    !(c.command === undefined && (c.args ?? [])[0] === 'snapshot'))
		err(`${cw}: does not run \`aniworld-server snapshot\``);

	// The target: a ClusterIP Service of the set, on its port.
	const target = optionValue(words, script, '--target') ?? '';
	const tm = /^(?:dns:\/\/\/)?([a-z0-9-]+)(?:\.[a-z0-9.-]+)?:(\d+)$/.exec(target);
	const svc = tm && srv.services.find((x) => x.metadata?.name === tm[1]);
	if (!svc || !(svc.spec?.ports ?? []).some((p) => p.port === Number(tm[2])))
		err(`${cw}: --target ${target || '(none)'} is not a Service of the set on one of its ports`);

	// The admin token: the server's admin tokens Secret, mounted read-only.
	const volumes = new Map((pod.volumes ?? []).map((v) => [v.name, v]));
	const mounts = c.volumeMounts ?? [];
	const under = (file) => mounts.find((m) => file.startsWith(`${m.mountPath}/`));
	const adminFile = srv.settings.ANIWORLD_ADMIN_TOKENS_FILE ?? '';
	const serverMount = adminFile && srv.mounts.find((m) => adminFile.startsWith(`${m.mountPath}/`));
	const serverSecret = serverMount && srv.volumes.get(serverMount.name)?.secret?.secretName;
	const tokenFile = optionValue(words, script, '--token-file') ?? '';
	const tmount = tokenFile && under(tokenFile);
	const tsecret = tmount && volumes.get(tmount.name)?.secret;
	if (!adminFile)
		err(`${cw}: the server has no ANIWORLD_ADMIN_TOKENS_FILE, so it refuses every snapshot`);
	else if (!tsecret)
		err(`${cw}: --token-file ${tokenFile || '(none)'} is not in a mounted Secret`);
	else if (tsecret.secretName !== serverSecret)
		err(`${cw}: the token comes from Secret ${tsecret.secretName}, the server's admin tokens from ${serverSecret}`);
	else if (tmount.readOnly !== true)
		err(`${cw}: the Secret mount ${tmount.mountPath} must be read-only`);
	else if ((tsecret.items ?? []).some((i) => i.key !== adminFile.replace(/^.*\//, '')))
		err(`${cw}: mounts keys of Secret ${tsecret.secretName} other than the server's admin tokens`);

	// Where the snapshots go: a volume claim of the set.
	const out = optionValue(words, script, '--out') ?? '';
	const omount = out.startsWith('/') && under(out);
	const claim = omount && volumes.get(omount.name)?.persistentVolumeClaim?.claimName;
	if (!claim || !objs.some((o) => o.kind === 'PersistentVolumeClaim' && o.metadata?.name === claim))
		err(`${cw}: --out ${out || '(none)'} is not in a mount of a PersistentVolumeClaim of the set`);
	const writable = mounts.filter((m) => m.readOnly !== true).map((m) => m.mountPath).sort();
	const expected = [...new Set(['/tmp', omount?.mountPath ?? '(the snapshots volume)'])].sort();
	if (writable.join(', ') !== expected.join(', '))
		err(`${cw}: writable mounts are ${writable.join(', ') || 'none'}; expected ${expected.join(', ')}`);
	const tmp = mounts.find((m) => m.mountPath === '/tmp');
	if (!tmp || !volumes.get(tmp.name)?.emptyDir)
		err(`${cw}: /tmp must be an emptyDir mount (the root file system is read-only)`);
}

/* ---- driver --------------------------------------------------------------------- */

/* Custom resources the sets may hold, by apiVersion and kind. No schema for them
 * is installed here (it would mean vendoring the operator's CRD), so they get no
 * schema layer: only their metadata is checked for unknown fields, their top
 * level for keys other than apiVersion, kind, metadata and spec, and policy
 * checks the fields the deployment relies on. The output names each of them. */
const CUSTOM = new Map([
	['postgresql.cnpg.io/v1 Cluster', 'CloudNativePG'],
]);

function customOf(o) {
	return CUSTOM.get(`${o.apiVersion} ${o.kind}`);
}

function customErrors(o) {
	const errs = [];
	for (const k of Object.keys(o))
		if (!['apiVersion', 'kind', 'metadata', 'spec'].includes(k))
			errs.push(`strict: ${k}: unexpected top-level field of a custom resource`);
	if (!isObject(o.metadata) || typeof o.metadata.name !== 'string')
		errs.push('schema: /metadata/name: required');
	if (!isObject(o.spec))
		errs.push('schema: /spec: must be an object');
	const meta = [];
	unknownFields(o.metadata, 'V1ObjectMeta', 'metadata', meta);
	return errs.concat(meta.map((e) => `strict: ${e}`));
}

async function objectErrors(o) {
	if (customOf(o))
		return customErrors(o);
	const errs = (await schemaErrors(o)).map((e) => `schema: ${e}`);
	return errs.concat(strictErrors(o).map((e) => `strict: ${e}`));
}

/* Proves every layer rejects what it must, before any real set is trusted:
 * broken copies of the first SQLite set and of the first PostgreSQL set. */
async function selfTest(sets, ctx) {
	const fails = [];
	const badObjects = [
		['unknown top-level spec field', { apiVersion: 'v1', kind: 'Service', metadata: { name: 'x' }, spec: { ports: [{ port: 1 }], bogus: true } }],
		['misspelled field deep in a pod template', { apiVersion: 'apps/v1', kind: 'StatefulSet', metadata: { name: 'x' }, spec: { selector: {}, serviceName: 'x', template: { spec: { containers: [{ name: 'c', readinessprobe: {} }] } } } }],
		['string where an integer belongs', { apiVersion: 'apps/v1', kind: 'StatefulSet', metadata: { name: 'x' }, spec: { replicas: 'one', selector: {}, serviceName: 'x', template: { spec: { containers: [] } } } }],
		['value outside an enum', { apiVersion: 'v1', kind: 'Service', metadata: { name: 'x' }, spec: { ports: [{ port: 1, protocol: 'TCPX' }] } }],
		['missing required field', { apiVersion: 'apps/v1', kind: 'StatefulSet', metadata: { name: 'x' }, spec: { serviceName: 'x' } }],
		['unknown kind', { apiVersion: 'v1', kind: 'Servise', metadata: { name: 'x' } }],
		['misspelled Deployment strategy field', { apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'x' }, spec: { selector: {}, strategy: { rollingUpdate: { maxUnavailible: 0 } }, template: { spec: { containers: [] } } } }],
		['custom resource of an unknown version', { apiVersion: 'postgresql.cnpg.io/v2', kind: 'Cluster', metadata: { name: 'x' }, spec: { instances: 3 } }],
		['custom resource with an unknown metadata field', { apiVersion: 'postgresql.cnpg.io/v1', kind: 'Cluster', metadata: { name: 'x', label: {} }, spec: { instances: 3 } }],
	];
	for (const [what, o] of badObjects)
		if ((await objectErrors(o)).length === 0)
			fails.push(`accepted an object with ${what}`);

	const server = (w) => w.spec.template.spec.containers[0];
	const mutator = (first) => (what, fn) => {
		const copy = structuredClone(first);
		fn(copy, workloadOf(copy));
		if (policyErrors(copy, ctx).length === 0)
			fails.push(`policy accepted a set with ${what}`);
	};
	const sqlite = sets.find((s) => workloadOf(s.objs)?.kind === 'StatefulSet');
	const postgres = sets.find((s) => workloadOf(s.objs)?.kind === 'Deployment');
	if (!sqlite)
		fails.push('had no SQLite set (a StatefulSet) to break');
	if (sqlite) {
		const mutate = mutator(sqlite.objs);
		mutate('two replicas', (_, sts) => { sts.spec.replicas = 2; });
		mutate('a writable root file system', (_, sts) => { server(sts).securityContext.readOnlyRootFilesystem = false; });
		mutate('a short termination grace period', (_, sts) => { sts.spec.template.spec.terminationGracePeriodSeconds = 5; });
		mutate('no readiness probe', (_, sts) => { delete server(sts).readinessProbe; });
		mutate('an extra writable mount', (_, sts) => { server(sts).volumeMounts.find((m) => m.readOnly).readOnly = false; });
		mutate('a misspelled setting', (objs) => { objs.find((o) => o.kind === 'ConfigMap').data.ANIWORLD_LOGLEVEL = 'info'; });
		mutate('a Service without appProtocol', (objs) => { delete objs.find((o) => o.kind === 'Service').spec.ports[0].appProtocol; });
		mutate('another user than the image', (_, sts) => { sts.spec.template.spec.securityContext.runAsUser = 1000; });
	}
	const backup = sets.find((s) => s.objs.some((o) => o.kind === 'CronJob'));
	if (backup) {
		const mutate = mutator(backup.objs);
		const cron = (objs) => objs.find((o) => o.kind === 'CronJob');
		const job = (objs) => cron(objs).spec.jobTemplate.spec.template.spec;
		const script = (objs, fn) => { const c = job(objs).containers[0]; c.command = c.command.map(fn); };
		mutate('snapshots taken concurrently', (objs) => { cron(objs).spec.concurrencyPolicy = 'Allow'; });
		mutate('a snapshot job from another image', (objs) => { job(objs).containers[0].image = 'aniworld-store:0.0.9'; });
		mutate('a snapshot job with a writable root', (objs) => { job(objs).containers[0].securityContext.readOnlyRootFilesystem = false; });
		mutate('snapshots saved in the pod\'s /tmp', (objs) => { script(objs, (w) => w.replace('out=/backups/', 'out=/tmp/')); });
		mutate('a snapshot target that is no Service', (objs) => { script(objs, (w) => w.replace('--target aniworld-store:', '--target elsewhere:')); });
		mutate('no admin tokens on the server', (objs) => { delete objs.find((o) => o.kind === 'ConfigMap').data.ANIWORLD_ADMIN_TOKENS_FILE; });
		mutate('the admin token from another Secret', (objs) => { job(objs).volumes.find((v) => v.secret).secret.secretName = 'other'; });
		mutate('a writable admin token mount', (objs) => { delete job(objs).containers[0].volumeMounts.find((m) => m.readOnly).readOnly; });
	}
	if (postgres) {
		const mutate = mutator(postgres.objs);
		const env = (c, name) => c.env.find((e) => e.name === name);
		const init = (d) => d.spec.template.spec.initContainers[0];
		mutate('maxUnavailable 1', (_, d) => { d.spec.strategy.rollingUpdate.maxUnavailable = 1; });
		mutate('one replica', (_, d) => { d.spec.replicas = 1; });
		mutate('a budget of minAvailable 1', (objs) => { objs.find((o) => o.kind === 'PodDisruptionBudget').spec.minAvailable = 1; });
		mutate('no spread over nodes', (_, d) => { delete d.spec.template.spec.topologySpreadConstraints; });
		mutate('the URI as a plain value', (_, d) => { env(server(d), 'ANIWORLD_DB').value = 'postgresql://u:p@db/x'; delete env(server(d), 'ANIWORLD_DB').valueFrom; });
		mutate('sslmode require', (_, d) => { env(server(d), 'PGSSLMODE').value = 'require'; });
		mutate('the whole CA Secret mounted (its key too)', (_, d) => { delete d.spec.template.spec.volumes.find((v) => v.name === 'db-ca').secret.items; });
		mutate('no migrations', (_, d) => { delete d.spec.template.spec.initContainers; });
		mutate('migrations from another image', (_, d) => { init(d).image = 'aniworld-store:0.0.9'; });
		mutate('migrations on another database', (_, d) => { env(init(d), 'ANIWORLD_DB').valueFrom.secretKeyRef.name = 'other-app'; });
		mutate('a Cluster of one instance', (objs) => { objs.find((o) => o.kind === 'Cluster').spec.instances = 1; });
		mutate('a writable data mount', (_, d) => {
			d.spec.template.spec.volumes.push({ name: 'data', emptyDir: {} });
			server(d).volumeMounts.push({ name: 'data', mountPath: '/var/lib/aniworld' });
		});
		mutate('a liveness probe that restarts in a failover', (_, d) => {
			const lp = server(d).livenessProbe;
			delete lp.grpc.service;
			lp.failureThreshold = 3;
		});
	}
	return fails;
}

async function main() {
	const args = parseArgs(process.argv.slice(2));
	const ctx = { ...dockerfileUser(args.dockerfile), settings: knownSettings(args['config-c']) };
	const loaded = args.sets.map((s) => ({ ...s, objs: loadDocuments(s.file) }));

	const selfFails = await selfTest(loaded, ctx);
	for (const f of selfFails)
		console.error(`FAIL self-test: the validator ${f}`);
	if (selfFails.length === 0)
		console.log('self-test: each layer rejects known-bad objects and broken copies');

	let failed = selfFails.length;
	let objects = 0;
	const unvalidated = [];
	for (const set of loaded) {
		const errs = [];
		const custom = [];
		for (const o of set.objs) {
			objects++;
			if (customOf(o))
				custom.push(o);
			for (const e of await objectErrors(o))
				errs.push(`${describe(o)}: ${e}`);
		}
		for (const e of policyErrors(set.objs, ctx))
			errs.push(`policy: ${e}`);
		const kinds = set.objs.map((o) => o.kind).join(', ');
		if (errs.length === 0) {
			console.log(`${set.name}: ${set.objs.length} objects valid (${kinds})`);
		} else {
			failed++;
			for (const e of errs)
				console.error(`FAIL ${set.name}: ${e}`);
		}
		for (const o of custom) {
			console.log(`${set.name}: ${describe(o)} (${o.apiVersion}) is a ${customOf(o)} custom resource: ` +
				'NOT validated against a schema (none offline); only its metadata, top level and the policy rules checked');
			unvalidated.push(`${set.name}: ${describe(o)}`);
		}
	}
	const note = unvalidated.length > 0 ? `; without a schema: ${unvalidated.join(', ')}` : '';
	console.log(`manifests: ${objects} objects in ${loaded.length} sets, ${failed === 0 ? 'all valid' : `${failed} failing`}${note}`);
	return failed === 0 ? 0 : 1;
}

main().then((rc) => process.exit(rc), (e) => {
	console.error(`validate-manifests: ${e.message}`);
	process.exit(2);
});
