import { Validations } from 'aws-cdk-lib';
import { AccessLogFormat } from 'aws-cdk-lib/aws-apigateway';
import {
  type CfnStage,
  HttpApi,
  HttpMethod,
  HttpNoneAuthorizer,
  HttpStage,
  type IHttpRouteAuthorizer,
  LogGroupLogDestination,
} from 'aws-cdk-lib/aws-apigatewayv2';
import { HttpIamAuthorizer } from 'aws-cdk-lib/aws-apigatewayv2-authorizers';
import { HttpLambdaIntegration } from 'aws-cdk-lib/aws-apigatewayv2-integrations';
import { LogGroup } from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';
import {
  ACCESS_LOG_FIELDS,
  type FunctionName,
  ROUTE_THROTTLES,
  type RouteDefinition,
  type RouteThrottle,
  type RouteThrottleClass,
} from '../definitions.ts';
import { type AppFunction, toRetentionDays } from './app-function.ts';

/**
 * How the API is throttled. Every route has its own limits (API Gateway route settings, one token bucket per
 * route), by who calls it (definitions.ts ROUTE_THROTTLES); the defaults are far above Cronofy's and
 * recipients' traffic for one integrator.
 */
export interface ApiThrottleProps {
  /**
   * Steady-state requests per second of a route that has no limits of its own (the stage's default route
   * settings); beyond it callers get 429.
   * @default 50
   */
  readonly rateLimit?: number;
  /**
   * Requests such a route accepts at once above the steady rate.
   * @default 100
   */
  readonly burstLimit?: number;
  /**
   * Limits per kind of caller, each applied to every route of that kind separately.
   * @default - ROUTE_THROTTLES of definitions.ts
   */
  readonly routes?: Partial<Record<RouteThrottleClass, RouteThrottle>>;
}

export interface NotificationsHttpApiProps {
  /** Every route of the product (infra/definitions.ts ROUTES); nothing else is exposed. */
  readonly routes: readonly RouteDefinition[];
  /** The function behind each route's `function` name. */
  readonly functions: Readonly<Record<FunctionName, AppFunction>>;
  /** How long access log lines are kept, in days (a CloudWatch Logs retention period). */
  readonly accessLogRetentionDays: number;
  /**
   * @default - the ApiThrottleProps defaults
   */
  readonly throttle?: ApiThrottleProps;
  /** Name of the HTTP API in the console and in API Gateway's lists; unique per stage. */
  readonly apiName: string;
}

/**
 * The HTTP API (API Gateway v2, payload format 2.0): one route per entry of ROUTES, each wired to its
 * function, with SigV4 (IAM) authorization where the route says `iam`. There is no catch-all route, so any
 * other path gets API Gateway's own 404 without invoking a function.
 */
export class NotificationsHttpApi extends Construct {
  readonly api: HttpApi;
  readonly stage: HttpStage;
  readonly accessLogGroup: LogGroup;

  constructor(scope: Construct, id: string, props: NotificationsHttpApiProps) {
    super(scope, id);

    this.accessLogGroup = new LogGroup(this, 'AccessLogs', {
      retention: toRetentionDays(props.accessLogRetentionDays),
    });

    // The $default stage is declared explicitly (not with createDefaultStage) because only an explicit stage
    // takes throttling and access log settings.
    this.api = new HttpApi(this, 'Api', { apiName: props.apiName, createDefaultStage: false });
    this.stage = new HttpStage(this, 'DefaultStage', {
      httpApi: this.api,
      stageName: '$default',
      autoDeploy: true,
      throttle: { rateLimit: props.throttle?.rateLimit ?? 50, burstLimit: props.throttle?.burstLimit ?? 100 },
      accessLogSettings: {
        destination: new LogGroupLogDestination(this.accessLogGroup),
        // No query string, headers or body: they carry recipients' metadata, signatures and tokens.
        format: AccessLogFormat.custom(JSON.stringify(ACCESS_LOG_FIELDS)),
      },
    });

    const integrations = new Map<FunctionName, HttpLambdaIntegration>();
    const integrationFor = (name: FunctionName) => {
      let integration = integrations.get(name);
      if (!integration) {
        integration = new HttpLambdaIntegration(`${name}-integration`, props.functions[name].function);
        integrations.set(name, integration);
      }
      return integration;
    };
    const authorizers: Record<RouteDefinition['auth'], IHttpRouteAuthorizer> = {
      iam: new HttpIamAuthorizer(),
      none: new HttpNoneAuthorizer(),
    };

    const limits = { ...ROUTE_THROTTLES, ...props.throttle?.routes };
    const routeSettings: Record<string, { ThrottlingRateLimit: number; ThrottlingBurstLimit: number }> = {};
    const cfnStage = this.stage.node.defaultChild as CfnStage;
    for (const route of props.routes) {
      const limit = limits[route.throttle];
      routeSettings[`${route.method} ${route.path}`] = {
        ThrottlingRateLimit: limit.rateLimit,
        ThrottlingBurstLimit: limit.burstLimit,
      };
      const [created] = this.api.addRoutes({
        path: route.path,
        methods: [HttpMethod[route.method]],
        integration: integrationFor(route.function),
        authorizer: authorizers[route.auth],
      });
      // API Gateway refuses route settings for a route that does not exist yet.
      if (created) cfnStage.node.addDependency(created);
      if (created && route.auth === 'none') {
        Validations.of(created).acknowledge({
          id: 'AwsSolutions-APIG4',
          reason:
            `${route.method} ${route.path} is public by design: Cronofy cannot sign requests with AWS credentials ` +
            '(notifications are authenticated by their Cronofy-HMAC-SHA256 signature in the function), ' +
            "recipients' browsers follow redirect and link URLs without credentials, and /healthz is for load balancers.",
        });
      }
    }
    // A JSON map keyed by route key, rendered as written (hence CloudFormation's property names).
    cfnStage.routeSettings = routeSettings;
  }

  /**
   * The base URL of the API, without a trailing slash (`https://{id}.execute-api.{region}.amazonaws.com`):
   * the `$default` stage serves at the root, so a route's URL is this plus its path.
   */
  get url(): string {
    return this.api.apiEndpoint;
  }
}
